using Dapper;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Admin.Events;
using EventRegistration.Functions.Confirmation;
using EventRegistration.Functions.Infrastructure.Database;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Admin.Cancellation;

/// <summary>What a cancellation came to. <see cref="CancelEventFunction"/> maps each to HTTP, in one switch.</summary>
public abstract record CancelEventOutcome
{
    private CancelEventOutcome()
    {
    }

    /// <param name="Event">The event as it stands after the refunds were made due, with their progress.</param>
    /// <param name="Repeated">The event was cancelled before: nothing was changed by this call.</param>
    public sealed record Cancelled(AdminEvent Event, bool Repeated) : CancelEventOutcome;

    public sealed record NotFound : CancelEventOutcome;
}

/// <summary>
/// Cancels an event in two steps, each taking locks in the order every payment writer takes them.
/// First, under the event's row lock (the lock every order and confirmation counts seats under),
/// the event becomes <c>cancelled</c> with its reason, audited in the same transaction: from that
/// commit on, orders are refused (<c>event-not-open</c>) and a payment that still comes is recorded
/// and refunded (<see cref="ConfirmationDecision"/>, <c>event_cancelled</c>). The paid registrations
/// are then a closed set, and each one's payment is made due for refund by the ledger under the
/// payment's own lock (<see cref="PaymentLedger.OweRefundsOfCancelledEventsAsync"/>); the
/// reconciliation requests the refunds and finishes whatever this call did not. Pending orders are
/// left pending, so the reconciliation still asks Razorpay about them and a late payment is found.
/// </summary>
public sealed class CancelEventHandler(
    Database database, PaymentLedger ledger, AdminEventsHandler events, TimeProvider clock, ILogger<CancelEventHandler> logger)
{
    /// <summary>Payments made due within the call; a larger event's rest is left to the reconciliation, which runs the same sweep.</summary>
    public const int MaxPaymentsPerCall = 10_000;

    private const string LockEvent = "select status, cancelled_at from events where id = @Id for update";

    private const string Cancel = """
        update events set status = 'cancelled', cancelled_at = @Now, cancel_reason = @Reason, cancelled_by = @Actor
         where id = @Id
        """;

    private const string Taken = """
        select e.attendee_count as paid,
               (select count(*) from event_registrations r
                 where r.event_id = e.id and r.status = 'pending' and r.hold_expires_at > @Now) as held
          from events e where e.id = @Id
        """;

    public async Task<CancelEventOutcome> CancelAsync(AdminActor actor, Guid eventId, string reason, CancellationToken cancellationToken)
    {
        var state = await database.InTransactionAsync("admin_cancel_event", async (connection, transaction) =>
        {
            var now = clock.GetUtcNow();
            var current = await connection.QuerySingleOrDefaultAsync<(string Status, DateTime? CancelledAt)?>(LockEvent, new { Id = eventId }, transaction);
            if (current is not { } found)
            {
                return "not_found";
            }

            if (found.Status == "cancelled")
            {
                return "repeated";
            }

            var taken = await connection.QuerySingleAsync<(int Paid, long Held)>(Taken, new { Id = eventId, Now = now.UtcDateTime }, transaction);
            await connection.ExecuteAsync(Cancel, new { Id = eventId, Now = now.UtcDateTime, Reason = reason, Actor = actor.Name }, transaction);
            await AdminAudit.RecordAsync(connection, transaction, actor, "event.cancel", eventId.ToString(),
                new { status = found.Status, paidSeats = taken.Paid, heldSeats = taken.Held },
                new { status = "cancelled", reason, refundsToMake = taken.Paid }, now);
            return "cancelled";
        }, cancellationToken);

        if (state == "not_found")
        {
            return new CancelEventOutcome.NotFound();
        }

        if (state == "cancelled")
        {
            logger.LogWarning("Event {EventId} cancelled by {Actor}; its paid registrations are refunded", eventId, actor.Name);
        }

        try
        {
            // Also on a repeated call: it finishes what an earlier call was cut off from, and changes nothing otherwise.
            await ledger.OweRefundsOfCancelledEventsAsync(eventId, batchSize: 200, MaxPaymentsPerCall, cancellationToken);
        }
        catch (DependencyUnavailableException e)
        {
            // The event is cancelled and nothing can be paid for it any more; the reconciliation makes the rest due.
            logger.LogWarning(e, "Event {EventId} is cancelled but not all of its refunds were made due; the reconciliation will", eventId);
        }

        var shown = await events.GetAsync(eventId, cancellationToken)
            ?? throw new InvalidOperationException($"Event {eventId} vanished after its cancellation.");
        return new CancelEventOutcome.Cancelled(shown, state == "repeated");
    }
}
