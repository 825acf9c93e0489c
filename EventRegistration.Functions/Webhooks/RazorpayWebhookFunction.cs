using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Webhooks;

/// <summary>
/// POST /api/webhooks/razorpay. Anonymous: only the signature over the raw body counts. Answers
/// 2xx for processed, duplicate, ignored and unprocessable events, 401 for a bad signature, 503
/// only where Razorpay should deliver again (a dependency down, or the time budget spent).
/// </summary>
public sealed class RazorpayWebhookFunction(WebhookHandler handler, IOptions<RazorpayOptions> razorpay, ILogger<RazorpayWebhookFunction> logger)
{
    public const string SignatureHeader = "X-Razorpay-Signature";
    public const string EventIdHeader = "x-razorpay-event-id";

    [Function(nameof(RazorpayWebhook))]
    public async Task<IActionResult> RazorpayWebhook(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "webhooks/razorpay")] HttpRequest request)
    {
        var cancellationToken = request.HttpContext.RequestAborted;
        var body = await RequestBody.ReadAsync(request, razorpay.Value.MaxBodyBytes, cancellationToken);
        if (body is null)
        {
            return Problems.BodyTooLarge(razorpay.Value.MaxBodyBytes);
        }

        var signatures = request.Headers[SignatureHeader];
        var eventIds = request.Headers[EventIdHeader];
        return await HttpFailures.GuardAsync(logger, nameof(RazorpayWebhook), () => handler.HandleAsync(
            body,
            signatures.Count == 1 ? signatures[0] : null,
            signatures.Count > 1,
            eventIds.Count == 1 ? eventIds[0] : null,
            eventIds.Count > 1,
            cancellationToken));
    }
}
