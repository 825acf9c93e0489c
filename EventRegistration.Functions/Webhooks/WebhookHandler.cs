using System.Text;
using Dapper;
using EventRegistration.Functions.Confirmation;
using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Http;
using EventRegistration.Functions.Infrastructure.Razorpay;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Webhooks;

public sealed record WebhookAnswer(string Status, string EventId, string Outcome);

/// <summary>
/// Verifies, stores in the inbox (committed before anything acts on it), then acts per event
/// type. A delivery of an event already processed is acknowledged without acting again; one
/// stored but not processed (an earlier attempt failed) is processed now.
/// </summary>
public sealed class WebhookHandler(
    Database database,
    PaymentConfirmation confirmation,
    PaymentLedger ledger,
    IOptions<RazorpayOptions> razorpay,
    RegistrationMetrics metrics,
    TimeProvider clock,
    ILogger<WebhookHandler> logger)
{
    private const string StoreInInbox = """
        insert into webhook_inbox (event_id, event_type, body, received_at)
        values (@EventId, @EventType, @Body, @Now)
        on conflict (event_id) do update set delivery_count = webhook_inbox.delivery_count + 1
        returning processed_at is not null as processed, coalesce(outcome, '') as outcome
        """;

    private const string MarkProcessed = """
        update webhook_inbox set processed_at = @Now, outcome = @Outcome, last_error = null
         where event_id = @EventId and processed_at is null
        """;

    private const string MarkFailed = "update webhook_inbox set last_error = @Error where event_id = @EventId";

    public async Task<ApiResult> HandleAsync(
        byte[] body, string? signature, bool signatureRepeated, string? eventId, bool eventIdRepeated, CancellationToken cancellationToken)
    {
        if (signatureRepeated)
        {
            return Problems.SignatureInvalid(RazorpayWebhookFunction.SignatureHeader);
        }

        if (string.IsNullOrEmpty(signature))
        {
            return Problems.SignatureMissing(RazorpayWebhookFunction.SignatureHeader);
        }

        if (!RazorpaySignatures.IsValidWebhook(body, signature, razorpay.Value.WebhookSecretList))
        {
            logger.LogWarning("Webhook signature mismatch");
            return Problems.SignatureInvalid(RazorpayWebhookFunction.SignatureHeader);
        }

        if (eventIdRepeated)
        {
            return Problems.InvalidField(RazorpayWebhookFunction.EventIdHeader, "The event id header must appear once.");
        }

        if (string.IsNullOrEmpty(eventId))
        {
            return Problems.MissingHeader(RazorpayWebhookFunction.EventIdHeader);
        }

        if (!RazorpayIds.IsEventId(eventId))
        {
            return Problems.InvalidField(RazorpayWebhookFunction.EventIdHeader, "The event id has characters or a length Razorpay never sends.");
        }

        var envelope = WebhookEnvelope.TryParse(body, out var problem);
        if (envelope is null)
        {
            return problem!;
        }

        var stored = await database.RunAsync("webhook_store", connection => connection.QuerySingleAsync<(bool Processed, string Outcome)>(StoreInInbox, new
        {
            EventId = eventId,
            envelope.EventType,
            Body = Encoding.UTF8.GetString(body),
            Now = clock.GetUtcNow().UtcDateTime,
        }), cancellationToken);

        if (stored.Processed)
        {
            metrics.Webhook(envelope.EventType, "duplicate");
            return ApiResult.Ok(new WebhookAnswer("duplicate", eventId, stored.Outcome));
        }

        string outcome;
        try
        {
            outcome = await ApplyAsync(envelope, cancellationToken);
        }
        catch (DependencyUnavailableException e)
        {
            await TryRecordFailureAsync(eventId, e.Message);
            throw;
        }

        await database.RunAsync("webhook_processed", connection =>
            connection.ExecuteAsync(MarkProcessed, new { EventId = eventId, Outcome = outcome, Now = clock.GetUtcNow().UtcDateTime }), cancellationToken);
        metrics.Webhook(envelope.EventType, outcome);
        return ApiResult.Ok(new WebhookAnswer("processed", eventId, outcome));
    }

    /// <summary>Acts on a stored event; the same event applied twice changes nothing the second time.</summary>
    public async Task<string> ApplyAsync(WebhookEnvelope envelope, CancellationToken cancellationToken)
    {
        const string source = "webhook";
        switch (envelope.EventType)
        {
            case "payment.captured" or "order.paid":
                var payment = envelope.Payment!;
                if (payment.Status != "captured")
                {
                    return $"ignored_status_{payment.Status}";
                }

                var result = await confirmation.ConfirmAsync(
                    new PaymentReport(payment.OrderId ?? "", payment.Id, payment.Amount, payment.Currency, ConfirmationSource.Webhook), cancellationToken);
                return ConfirmationOutcomes.Name(result.Outcome);

            case "payment.failed":
                return await ledger.RecordFailedAttemptAsync(envelope.Payment!, source, cancellationToken);

            case "refund.processed":
                return await ledger.RecordRefundProcessedAsync(envelope.Refund!, source, cancellationToken);

            case "refund.failed":
                return await ledger.RecordRefundFailedAsync(envelope.Refund!, "refund.failed webhook", cancellationToken);

            case "payment.authorized":
                // Auto-capture follows; payment.captured or order.paid confirms.
                return "stored";

            default:
                return "ignored";
        }
    }

    private async Task TryRecordFailureAsync(string eventId, string error)
    {
        try
        {
            await database.RunAsync("webhook_failed", connection => connection.ExecuteAsync(MarkFailed, new { EventId = eventId, Error = error }), CancellationToken.None);
        }
        catch (DependencyUnavailableException)
        {
            // The row stays unprocessed either way; Razorpay's redelivery or the timer will act on it.
        }
    }
}
