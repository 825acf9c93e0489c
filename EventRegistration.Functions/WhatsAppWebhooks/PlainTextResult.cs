using System.Text;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Mvc;

namespace EventRegistration.Functions.WhatsAppWebhooks;

/// <summary>Either a JSON (problem) answer or the handshake's plain-text echo.</summary>
public abstract class ApiResultOrText : IActionResult
{
    public abstract int StatusCode { get; }

    public abstract Task ExecuteResultAsync(ActionContext context);

    public static implicit operator ApiResultOrText(ApiResult result) => new Json(result);

    private sealed class Json(ApiResult result) : ApiResultOrText
    {
        public override int StatusCode => result.StatusCode;

        public override Task ExecuteResultAsync(ActionContext context) => result.ExecuteResultAsync(context);
    }
}

/// <summary>Meta expects the challenge back as the body, verbatim: text, not JSON.</summary>
public sealed class PlainTextResult(string text) : ApiResultOrText
{
    public string Text { get; } = text;

    public override int StatusCode => 200;

    public override async Task ExecuteResultAsync(ActionContext context)
    {
        var response = context.HttpContext.Response;
        response.StatusCode = 200;
        response.ContentType = "text/plain; charset=utf-8";
        await response.Body.WriteAsync(Encoding.UTF8.GetBytes(Text), context.HttpContext.RequestAborted);
    }
}
