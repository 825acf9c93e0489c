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

/// <summary>What became of one attempt to process a stored webhook.</summary>
public sealed record WebhookProcessing(bool Applied, string Outcome);

/// <summary>
/// Verifies, stores in the inbox (committed before anything acts on it), then acts per event
/// type. A delivery of an event already processed is acknowledged without acting again; one
/// stored but not processed (an earlier attempt failed) is processed now. All of it within a
/// time budget below Razorpay's 5 s timeout: past it, 503, and the inbox keeps what it stored.
/// </summary>
public sealed class WebhookHandler(
    WebhookInbox inbox,
    Database database,
    PaymentConfirmation confirmation,
    PaymentLedger ledger,
    IOptions<RazorpayOptions> razorpay,
    IOptions<WebhookOptions> options,
    RegistrationMetrics metrics,
    TimeProvider clock,
    ILogger<WebhookHandler> logger)
{
    /// <summary>The event tag of a webhook refused before its body was read.</summary>
    public const string UnverifiedEvent = "unverified";

    public async Task<ApiResult> HandleAsync(
        byte[] body, string? signature, bool signatureRepeated, string? eventId, bool eventIdRepeated, CancellationToken cancellationToken)
    {
        // Counted (event "unverified": the body is not read before it is verified) for the alert on
        // signature failures: a burst means a secret rotated on one side only, or someone probing.
        if (signatureRepeated)
        {
            metrics.Webhook(UnverifiedEvent, "signature_invalid");
            return Problems.SignatureInvalid(RazorpayWebhookFunction.SignatureHeader);
        }

        if (string.IsNullOrEmpty(signature))
        {
            metrics.Webhook(UnverifiedEvent, "signature_missing");
            return Problems.SignatureMissing(RazorpayWebhookFunction.SignatureHeader);
        }

        if (!RazorpaySignatures.IsValidWebhook(body, signature, razorpay.Value.WebhookSecretList))
        {
            logger.LogWarning("Webhook signature mismatch");
            metrics.Webhook(UnverifiedEvent, "signature_invalid");
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

        // The slot wait, the lock wait and the queue send each have their own limit; in sequence
        // they can outlast Razorpay's patience, so the webhook as a whole gets one deadline.
        var budget = options.Value.TimeBudget;
        using var deadline = new CancellationTokenSource(budget, clock);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        using var lockWaits = database.WithDeadline(budget);
        try
        {
            var stored = await inbox.StoreAsync(eventId, envelope.EventType, body, linked.Token);
            if (stored.Processed)
            {
                metrics.Webhook(envelope.EventType, "duplicate");
                return ApiResult.Ok(new WebhookAnswer("duplicate", eventId, stored.Outcome));
            }

            var processing = await ProcessAsync(eventId, envelope, linked.Token);
            return ApiResult.Ok(new WebhookAnswer(processing.Applied ? "processed" : WebhookInbox.Unprocessable, eventId, processing.Outcome));
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning("Webhook {EventId} ({EventType}) not finished within {BudgetMilliseconds} ms; answered 503 for a redelivery",
                eventId, envelope.EventType, (int)budget.TotalMilliseconds);
            metrics.Webhook(envelope.EventType, "over_budget");
            return Problems.Unavailable("The webhook could not be finished in time; what was stored is kept and applied on the next delivery.", retryAfterSeconds: 5);
        }
    }

    /// <summary>
    /// Applies a stored webhook and records in the inbox what became of it. The webhook and the
    /// reconciliation both come here, so a failure reads the same whoever met it: transient (the
    /// row stays stored with the reason; thrown for the caller to retry), or the database refusing
    /// what the webhook carries (settled as unprocessable for an operator; never retried).
    /// </summary>
    public async Task<WebhookProcessing> ProcessAsync(string eventId, WebhookEnvelope envelope, CancellationToken cancellationToken)
    {
        using var scope = logger.BeginPaymentScope(webhookEventId: eventId, orderId: envelope.Payment?.OrderId,
            paymentId: envelope.Payment?.Id ?? envelope.Refund?.PaymentId, refundId: envelope.Refund?.Id);
        string outcome;
        try
        {
            outcome = await ApplyAsync(envelope, cancellationToken);
        }
        catch (DatabaseRefusedException e)
        {
            logger.LogError("Webhook {EventId} ({EventType}) can never be applied: the database refuses it ({SqlState} {Constraint})",
                eventId, envelope.EventType, e.SqlState, e.Constraint);
            await inbox.MarkUnprocessableAsync(eventId, envelope.EventType, Reason(e), cancellationToken);
            metrics.Webhook(envelope.EventType, WebhookInbox.Unprocessable);
            return new WebhookProcessing(Applied: false, WebhookInbox.Unprocessable);
        }
        catch (Exception e) when (e is DependencyUnavailableException or RazorpayException)
        {
            await inbox.TryMarkFailedAsync(eventId, e.Message);
            throw;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await inbox.TryMarkFailedAsync(eventId, "Stopped before it finished (time budget or shutdown).");
            throw;
        }

        await inbox.MarkProcessedAsync(eventId, outcome, cancellationToken);
        metrics.Webhook(envelope.EventType, outcome);
        return new WebhookProcessing(Applied: true, outcome);
    }

    /// <summary>The SQLSTATE and the server's message; never the row's values (they may hold a payer's details).</summary>
    public static string Reason(DatabaseRefusedException e) =>
        $"the database refuses it (SQLSTATE {e.SqlState}{(e.Constraint is null ? "" : $", constraint {e.Constraint}")}: {e.ServerMessage})";

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
}
