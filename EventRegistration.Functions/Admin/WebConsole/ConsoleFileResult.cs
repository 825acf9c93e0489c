using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;

namespace EventRegistration.Functions.Admin.WebConsole;

/// <summary>
/// The console's answers, written straight to the response with the headers every page carries:
/// a strict Content-Security-Policy (scripts, styles and calls only from this origin; no inline
/// code, no frames), no sniffing, no referrer. Files are revalidated on every use
/// (<c>no-cache</c> + ETag, answered 304 when unchanged), so a deployment never leaves a browser
/// running yesterday's script against today's API.
/// </summary>
public abstract class ConsoleFileResult : IActionResult
{
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "font-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    public abstract Task ExecuteResultAsync(ActionContext context);

    private static void Secure(HttpResponse response)
    {
        response.Headers[HeaderNames.ContentSecurityPolicy] = ContentSecurityPolicy;
        response.Headers[HeaderNames.XContentTypeOptions] = "nosniff";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers[HeaderNames.XFrameOptions] = "DENY";
    }

    public sealed class File(ConsoleAsset asset) : ConsoleFileResult
    {
        public override async Task ExecuteResultAsync(ActionContext context)
        {
            var request = context.HttpContext.Request;
            var response = context.HttpContext.Response;
            Secure(response);
            response.Headers[HeaderNames.CacheControl] = "no-cache";
            response.Headers[HeaderNames.ETag] = asset.ETag;
            if (request.Headers.IfNoneMatch.Any(v => v is not null && v.Split(',').Any(t => t.Trim() == asset.ETag || t.Trim() == "*")))
            {
                response.StatusCode = StatusCodes.Status304NotModified;
                return;
            }

            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = asset.ContentType;
            response.ContentLength = asset.Content.Length;
            if (!HttpMethods.IsHead(request.Method))
            {
                await response.Body.WriteAsync(asset.Content, context.HttpContext.RequestAborted);
            }
        }
    }

    public sealed class Redirect(string location) : ConsoleFileResult
    {
        public override Task ExecuteResultAsync(ActionContext context)
        {
            var response = context.HttpContext.Response;
            Secure(response);
            response.StatusCode = StatusCodes.Status301MovedPermanently;
            response.Headers[HeaderNames.Location] = location;
            return Task.CompletedTask;
        }
    }

    public sealed class NotFound : ConsoleFileResult
    {
        public override async Task ExecuteResultAsync(ActionContext context)
        {
            var response = context.HttpContext.Response;
            Secure(response);
            response.StatusCode = StatusCodes.Status404NotFound;
            response.ContentType = "text/plain; charset=utf-8";
            await response.WriteAsync("Not found.", context.HttpContext.RequestAborted);
        }
    }
}
