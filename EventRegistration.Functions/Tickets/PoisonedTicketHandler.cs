using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Tickets;

public enum PoisonOutcome
{
    /// <summary>The delivery is now <c>failed</c> with the poison reason, and an anomaly says so.</summary>
    RecordedAsFailed,
    /// <summary>The delivery had already ended (sent or failed); the poisoned copy is noted as an anomaly only.</summary>
    AlreadyFinished,
    /// <summary>The message names a registration without a delivery; an anomaly holds it.</summary>
    UnknownRegistration,
    /// <summary>The message is not a ticket message; an anomaly without registration holds its text.</summary>
    Unreadable,
}

/// <summary>
/// Records each message the runtime moved to <c>ticket-deliveries-poison</c> after
/// maxDequeueCount failed tries, so that no ticket disappears silently: the delivery becomes
/// <c>failed</c> ("poisoned after N attempts") and an operator sees an anomaly row.
/// </summary>
public sealed class PoisonedTicketHandler(
    Database database,
    RegistrationMetrics metrics,
    TimeProvider clock,
    ILogger<PoisonedTicketHandler> logger)
{
    private const string ReadForUpdate = """
        select d.status, d.attempts, d.last_error, r.event_id
          from ticket_deliveries d join event_registrations r on r.id = d.registration_id
         where d.registration_id = @RegistrationId
           for update of d
        """;

    /// <summary>Leaves 'sent' and an earlier permanent 'failed' (with its own reason) alone.</summary>
    private const string MarkPoisoned = """
        update ticket_deliveries set status = 'failed', last_error = @Error, updated_at = @Now
         where registration_id = @RegistrationId and status in ('queued', 'sending')
        """;

    public async Task<PoisonOutcome> RecordAsync(string messageText, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var message = TicketDeliveryMessage.TryParse(messageText);
        if (message is null)
        {
            logger.LogError("Unreadable poisoned ticket message of {Length} characters recorded as an anomaly", messageText.Length);
            await database.RunAsync("ticket_poison", connection => AnomalyLog.RecordAsync(connection, null, new Anomaly(AnomalyKind.TicketMessageUnreadable,
                "Unreadable message on the ticket poison queue: " + Printable(messageText)), now), cancellationToken);
            metrics.TicketPoisoned("unreadable");
            return PoisonOutcome.Unreadable;
        }

        var outcome = await database.InTransactionAsync("ticket_poison", async (connection, transaction) =>
        {
            var delivery = await connection.QuerySingleOrDefaultAsync<(string Status, int Attempts, string? LastError, Guid EventId)?>(
                ReadForUpdate, new { message.RegistrationId }, transaction);
            string detail;
            PoisonOutcome result;
            if (delivery is not { } row)
            {
                detail = "A poisoned ticket message names a registration without a ticket delivery.";
                result = PoisonOutcome.UnknownRegistration;
            }
            else if (row.Status is "sent" or "failed")
            {
                detail = $"A poisoned ticket message arrived for a delivery already {row.Status}; nothing changed.";
                result = PoisonOutcome.AlreadyFinished;
            }
            else
            {
                var reason = $"poisoned after {row.Attempts} attempts" + (row.LastError is null ? "" : $"; last error: {row.LastError}");
                reason = reason.Length > 1000 ? reason[..1000] : reason;
                await connection.ExecuteAsync(MarkPoisoned, new { message.RegistrationId, Error = reason, Now = now }, transaction);
                detail = $"Ticket not delivered: {reason}";
                result = PoisonOutcome.RecordedAsFailed;
            }

            await AnomalyLog.RecordAsync(connection, transaction,
                new Anomaly(AnomalyKind.TicketPoisoned, detail, delivery?.EventId, message.RegistrationId), now);
            return result;
        }, cancellationToken);

        metrics.TicketPoisoned(outcome switch
        {
            PoisonOutcome.RecordedAsFailed => "recorded_failed",
            PoisonOutcome.AlreadyFinished => "already_finished",
            _ => "unknown_registration",
        });
        logger.LogError("Poisoned ticket message for {RegistrationId}: {Outcome}", message.RegistrationId, outcome);
        return outcome;
    }

    private static string Printable(string text)
    {
        var cut = text.Length > 200 ? text[..200] + "…" : text;
        return new string(cut.Select(c => char.IsControl(c) ? '?' : c).ToArray());
    }
}
