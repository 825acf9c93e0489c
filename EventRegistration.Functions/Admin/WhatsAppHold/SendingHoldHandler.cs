using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Tickets;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Admin.WhatsAppHold;

/// <summary>The answer to a release: the hold as released, and the tickets it held that are on their way again.</summary>
public sealed record HoldRelease(SendingHold Hold, int ResumedTickets, int Enqueued);

public abstract record ReleaseHoldOutcome
{
    public sealed record Released(HoldRelease Release) : ReleaseHoldOutcome;

    /// <summary>Sending is not on hold: nothing changed.</summary>
    public sealed record NotHeld(SendingHold? Last) : ReleaseHoldOutcome;
}

/// <summary>
/// An operator releases WhatsApp's sending hold once the template or the token is fixed: the hold is
/// closed with who and why, audited, and the deliveries it held become due, in one transaction; after
/// the commit each gets a queue message. One that cannot be enqueued is re-enqueued by the
/// reconciliation's deliveries step (Reconciliation__StuckDeliveryMinutes).
/// </summary>
public sealed class SendingHoldHandler(Database database, SendingHolds holds, TicketQueue queue, TimeProvider clock, ILogger<SendingHoldHandler> logger)
{
    public Task<SendingHold?> CurrentAsync(CancellationToken cancellationToken) => holds.LatestAsync(cancellationToken);

    public async Task<ReleaseHoldOutcome> ReleaseAsync(AdminActor actor, string note, CancellationToken cancellationToken)
    {
        var outcome = await database.InTransactionAsync<(SendingHold? Released, List<Guid> Resumed)>("admin_release_hold", async (connection, transaction) =>
        {
            var now = clock.GetUtcNow();
            if (await SendingHolds.LockOpenAsync(connection, transaction) is not { } open)
            {
                return (null, []);
            }

            var (released, resumed) = await SendingHolds.ReleaseAsync(connection, transaction, open, actor.Name, note, now.UtcDateTime);
            await AdminAudit.RecordAsync(connection, transaction, actor, "whatsapp_hold.release", "whatsapp_sending_hold:" + open.Id,
                open, new { released, resumedTickets = resumed.Count }, now);
            return (released, resumed);
        }, cancellationToken);

        if (outcome.Released is not { } hold)
        {
            return new ReleaseHoldOutcome.NotHeld(await holds.LatestAsync(cancellationToken));
        }

        logger.LogWarning("WhatsApp sending hold {HoldId} released by an operator; {Count} held tickets resume", hold.Id, outcome.Resumed.Count);
        var enqueued = 0;
        foreach (var registrationId in outcome.Resumed)
        {
            try
            {
                await queue.SendAsync(new TicketDeliveryMessage(registrationId), CancellationToken.None);
                enqueued++;
            }
            catch (Exception e) when (TicketQueue.IsUnavailable(e))
            {
                logger.LogWarning("Ticket of {RegistrationId} resumed but not enqueued; the reconciliation re-enqueues it", registrationId);
            }
        }

        return new ReleaseHoldOutcome.Released(new HoldRelease(hold, outcome.Resumed.Count, enqueued));
    }
}
