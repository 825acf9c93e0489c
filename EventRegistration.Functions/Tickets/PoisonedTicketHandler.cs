using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Tickets;

public enum PoisonOutcome
{
    /// <summary>The delivery is still open: it is left as it is for the reconciliation to re-enqueue, and an anomaly says why.</summary>
    LeftForReconciliation,
    /// <summary>The delivery had already ended (sent or failed); the poisoned copy is noted as an anomaly only.</summary>
    AlreadyFinished,
    /// <summary>The message names a registration without a delivery; an anomaly holds it.</summary>
    UnknownRegistration,
    /// <summary>The message is not a ticket message; an anomaly without registration holds its text.</summary>
    Unreadable,
}

/// <summary>
/// Records each message the runtime moved to <c>ticket-deliveries-poison</c>, so that none
/// disappears silently. A WhatsApp failure never gets here (the delivery handler schedules its own
/// retries and completes); what does is a message that cannot be read, or one whose invocations
/// kept throwing (database or storage down for minutes, or a defect). Neither says the ticket can
/// never be sent, so an open delivery is not failed: it stays <c>queued</c>/<c>sending</c>, an
/// operator sees a <c>ticket_poisoned</c> anomaly, and the reconciliation's deliveries step
/// re-enqueues it after Reconciliation:StuckDeliveryMinutes (after the short unsent grace if no one
/// has touched it since the confirmation), which also paces a handler that keeps crashing to one try
/// per threshold.
/// </summary>
public sealed class PoisonedTicketHandler(
    TicketDeliveries deliveries,
    Database database,
    RegistrationMetrics metrics,
    TimeProvider clock,
    ILogger<PoisonedTicketHandler> logger)
{
    public async Task<PoisonOutcome> RecordAsync(string messageText, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var message = TicketDeliveryMessage.TryParse(messageText);
        if (message is null)
        {
            logger.LogError("Unreadable poisoned ticket message of {Length} characters recorded as an anomaly", messageText.Length);
            await RecordAnomalyAsync(new Anomaly(AnomalyKind.TicketMessageUnreadable,
                "Unreadable message on the ticket poison queue: " + Printable(messageText)), now, cancellationToken);
            metrics.TicketPoisoned("unreadable");
            return PoisonOutcome.Unreadable;
        }

        var delivery = await deliveries.ReadAsync(message.RegistrationId, cancellationToken);
        var (outcome, detail) = delivery switch
        {
            null => (PoisonOutcome.UnknownRegistration, "A poisoned ticket message names a registration without a ticket delivery."),
            { IsFinished: true } => (PoisonOutcome.AlreadyFinished, $"A poisoned ticket message arrived for a delivery already {delivery.Status}; nothing changed."),
            _ => (PoisonOutcome.LeftForReconciliation, TicketDeliveries.Truncate(
                $"A ticket message failed every try (the handler could not finish: database or storage unavailable, or a defect). " +
                $"The delivery stays {delivery.Status} after {delivery.Attempts} attempts" + (delivery.LastError is null ? "" : $" (last error: {delivery.LastError})") +
                "; the reconciliation re-enqueues it.")),
        };
        await RecordAnomalyAsync(new Anomaly(AnomalyKind.TicketPoisoned, detail, delivery?.EventId, message.RegistrationId), now, cancellationToken);

        metrics.TicketPoisoned(outcome switch
        {
            PoisonOutcome.LeftForReconciliation => "left_open",
            PoisonOutcome.AlreadyFinished => "already_finished",
            _ => "unknown_registration",
        });
        logger.LogError("Poisoned ticket message for {RegistrationId}: {Outcome}", message.RegistrationId, outcome);
        return outcome;
    }

    private Task RecordAnomalyAsync(Anomaly anomaly, DateTime now, CancellationToken cancellationToken) =>
        database.RunAsync("ticket_poison", connection => AnomalyLog.RecordAsync(connection, null, anomaly, now), cancellationToken);

    private static string Printable(string text)
    {
        var cut = text.Length > 200 ? text[..200] + "…" : text;
        return new string(cut.Select(c => char.IsControl(c) ? '?' : c).ToArray());
    }
}
