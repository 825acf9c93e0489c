using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.WhatsAppWebhooks;

/// <summary>
/// GET and POST /api/webhooks/whatsapp, anonymous: the verify token (GET) and the signature over
/// the raw body (POST) are the only credentials Meta presents. POST answers 200 for processed and
/// duplicate bodies, 401 for a bad signature, 503 only when Meta should deliver again.
/// </summary>
public sealed class WhatsAppWebhookFunction(WhatsAppWebhookHandler handler, IOptions<RazorpayOptions> limits, ILogger<WhatsAppWebhookFunction> logger)
{
    [Function(nameof(WhatsAppWebhookVerify))]
    public IActionResult WhatsAppWebhookVerify(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "webhooks/whatsapp")] HttpRequest request)
    {
        string? One(string name) => request.Query[name] is { Count: 1 } values ? values[0] : null;
        return handler.Verify(One("hub.mode"), One("hub.verify_token"), One("hub.challenge"));
    }

    [Function(nameof(WhatsAppWebhook))]
    public async Task<IActionResult> WhatsAppWebhook(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "webhooks/whatsapp")] HttpRequest request)
    {
        var cancellationToken = request.HttpContext.RequestAborted;
        var body = await RequestBody.ReadAsync(request, limits.Value.MaxBodyBytes, cancellationToken);
        if (body is null)
        {
            return Problems.BodyTooLarge(limits.Value.MaxBodyBytes);
        }

        var signatures = request.Headers[WhatsAppWebhookHandler.SignatureHeader];
        return await HttpFailures.GuardAsync(logger, nameof(WhatsAppWebhook), () => handler.HandleAsync(
            body, signatures.Count == 1 ? signatures[0] : null, signatures.Count > 1, cancellationToken));
    }
}
