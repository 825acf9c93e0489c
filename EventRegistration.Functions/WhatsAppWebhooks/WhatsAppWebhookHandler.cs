using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.WhatsAppWebhooks;

public sealed record WhatsAppWebhookAnswer(string Status, int Statuses, int NewStatuses);

/// <summary>
/// Meta's webhook: the GET handshake, and status bodies verified (X-Hub-Signature-256 over the raw
/// bytes, before anything else), parsed, stored and applied by <see cref="DeliveryReceipts"/>.
/// </summary>
public sealed class WhatsAppWebhookHandler(
    DeliveryReceipts receipts,
    IOptions<WhatsAppWebhookOptions> options,
    ILogger<WhatsAppWebhookHandler> logger)
{
    public const string SignatureHeader = "X-Hub-Signature-256";

    /// <summary>Meta's verification request: echo the challenge when the mode is subscribe and the token is ours.</summary>
    public ApiResultOrText Verify(string? mode, string? verifyToken, string? challenge)
    {
        if (mode is null)
        {
            return Problems.MissingField("hub.mode");
        }

        if (mode != "subscribe")
        {
            return Problems.InvalidField("hub.mode", "hub.mode must be 'subscribe'.");
        }

        if (string.IsNullOrEmpty(challenge))
        {
            return Problems.MissingField("hub.challenge");
        }

        if (challenge.Length > 256 || !challenge.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            return Problems.InvalidField("hub.challenge", "hub.challenge must be up to 256 letters, digits, '-', '_' or '.'.");
        }

        if (!MetaSignature.VerifyTokenMatches(verifyToken, options.Value.VerifyToken))
        {
            logger.LogWarning("WhatsApp webhook verification with a wrong verify token");
            return Problems.VerifyTokenInvalid();
        }

        logger.LogInformation("WhatsApp webhook verified by Meta");
        return new PlainTextResult(challenge);
    }

    public async Task<ApiResult> HandleAsync(byte[] body, string? signature, bool signatureRepeated, CancellationToken cancellationToken)
    {
        if (signatureRepeated)
        {
            return Problems.SignatureInvalid(SignatureHeader);
        }

        if (string.IsNullOrEmpty(signature))
        {
            return Problems.SignatureMissing(SignatureHeader);
        }

        if (!MetaSignature.IsValid(body, signature, options.Value.AppSecret))
        {
            logger.LogWarning("WhatsApp webhook signature mismatch");
            return Problems.SignatureInvalid(SignatureHeader);
        }

        var statuses = WhatsAppStatusPayload.TryParse(body, out var problem);
        if (statuses is null)
        {
            return problem!;
        }

        var applied = await receipts.StoreAndApplyAsync(body, statuses, cancellationToken);
        return ApiResult.Ok(new WhatsAppWebhookAnswer(applied.Duplicate ? "duplicate" : "processed", applied.Statuses, applied.NewStatuses));
    }
}
