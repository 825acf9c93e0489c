using System.Collections.Frozen;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace EventRegistration.Functions.Checkins;

/// <summary>
/// GET /api/checkins/scanner/{file}: the door scanner page, static files embedded in the app (no
/// build step, nothing to deploy beside it). Anonymous: the page holds no key until door staff
/// enter one, and every call it makes presents that key.
/// </summary>
public sealed class ScannerPageFunction
{
    private static readonly FrozenDictionary<string, (string ContentType, byte[] Bytes)> Files = Load();

    // Only the page's own files, its own origin's API and the camera; nothing inline but styles.
    private const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
        + "connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

    [Function(nameof(ScannerPage))]
    public IActionResult ScannerPage(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "checkins/scanner/{*file}")] HttpRequest request,
        string? file)
    {
        if (string.IsNullOrEmpty(file) && !request.Path.Value!.EndsWith('/'))
        {
            // Relative URLs (and the service worker's scope) need the trailing slash.
            return new FileAnswer(StatusCodes.Status301MovedPermanently, "text/plain; charset=utf-8", [],
                new() { ["Location"] = request.PathBase + request.Path + "/" + request.QueryString });
        }

        if (!Files.TryGetValue(string.IsNullOrEmpty(file) ? "index.html" : file, out var found))
        {
            return new FileAnswer(StatusCodes.Status404NotFound, "text/plain; charset=utf-8", "Not found"u8.ToArray(), []);
        }

        return new FileAnswer(StatusCodes.Status200OK, found.ContentType, found.Bytes, new()
        {
            ["Content-Security-Policy"] = ContentSecurityPolicy,
            ["X-Content-Type-Options"] = "nosniff",
            ["Referrer-Policy"] = "no-referrer",
            ["Permissions-Policy"] = "camera=(self)",
            // Revalidated on every load online; the service worker keeps the copy for offline.
            ["Cache-Control"] = "no-cache",
        });
    }

    /// <summary>Bytes and headers written straight to the response, like ApiResult: no MVC services needed.</summary>
    private sealed class FileAnswer(int status, string contentType, byte[] body, Dictionary<string, string> headers) : IActionResult
    {
        public async Task ExecuteResultAsync(ActionContext context)
        {
            var response = context.HttpContext.Response;
            response.StatusCode = status;
            response.ContentType = contentType;
            foreach (var (name, value) in headers)
            {
                response.Headers[name] = value;
            }

            response.ContentLength = body.Length;
            await response.Body.WriteAsync(body, context.HttpContext.RequestAborted);
        }
    }

    private static FrozenDictionary<string, (string, byte[])> Load()
    {
        var assembly = typeof(ScannerPageFunction).Assembly;
        var files = new Dictionary<string, (string, byte[])>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("Scanner/", StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var file = name["Scanner/".Length..];
            files[file] = (ContentTypeOf(file), copy.ToArray());
        }

        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static string ContentTypeOf(string file) => Path.GetExtension(file) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    };
}
