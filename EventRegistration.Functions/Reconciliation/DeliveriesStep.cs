using Azure;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Tickets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// Step 5: a paid registration's ticket delivery stuck in <c>queued</c> or <c>sending</c> (its
/// message lost or poisoned, its lease holder gone mid-send, or its scheduled retry never
/// enqueued) gets a new queue message; the blob lease and the delivery state machine make a second
/// message harmless. A <c>sent</c> or <c>failed</c> delivery is never re-enqueued (failed is an
/// operator's), nor one waiting for its scheduled retry. Only rows whose outbox message went out
/// longer ago than the threshold count as stuck, so a row the outbox step has just dispatched is
/// not sent twice. The row's updated_at is bumped, so the next run waits another threshold.
/// </summary>
public sealed class DeliveriesStep(
    TicketQueue queue,
    TicketDeliveries deliveries,
    IOptions<ReconciliationOptions> options,
    TimeProvider clock,
    ILogger<DeliveriesStep> logger) : IReconciliationStep
{
    public string Name => "deliveries";

    public async Task RunAsync(StepTally tally, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var before = clock.GetUtcNow().UtcDateTime.AddMinutes(-settings.StuckDeliveryMinutes);
        var stuck = await deliveries.FindStuckAsync(before, settings.BatchSize, cancellationToken);

        foreach (var (registrationId, status, updatedAt) in stuck)
        {
            try
            {
                await queue.SendAsync(new TicketDeliveryMessage(registrationId), cancellationToken);
            }
            catch (Exception e) when (TicketQueue.IsUnavailable(e) && !cancellationToken.IsCancellationRequested)
            {
                tally.Error();
                logger.LogWarning(e, "Ticket queue unavailable; {Left} stuck deliveries wait for the next run", stuck.Count - tally.Get("requeued"));
                return;
            }

            await deliveries.TouchAsync(registrationId, updatedAt, clock.GetUtcNow().UtcDateTime, cancellationToken);
            tally.Add("requeued");
            logger.LogInformation("Ticket delivery of {RegistrationId} stuck in {DeliveryStatus}; re-enqueued", registrationId, status);
        }
    }
}
