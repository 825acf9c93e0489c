using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Tickets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// The deliveries step: a paid registration's ticket delivery whose queue message is lost gets a new one. The
/// <c>queued</c> delivery written with the payment is the durable record that a ticket is owed, so
/// one still as the confirmation wrote it after <see cref="ReconciliationOptions.UnsentDeliveryGraceSeconds"/>
/// (its message lost at commit: queue down, process gone) is enqueued (<c>unsent</c>); one stuck in
/// <c>queued</c> or <c>sending</c> for <see cref="ReconciliationOptions.StuckDeliveryMinutes"/> (its
/// message poisoned, its lease holder gone mid-send, its scheduled retry never enqueued, or the
/// copy this step enqueued lost again) is re-enqueued (<c>requeued</c>). The blob lease and the delivery state machine make a second message
/// harmless. A <c>sent</c> or <c>failed</c> delivery is never enqueued (failed is an operator's), nor
/// one waiting for its scheduled retry. The row's updated_at is bumped, so the next run waits again.
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
        var now = clock.GetUtcNow().UtcDateTime;
        var due = await deliveries.FindStuckAsync(now.AddSeconds(-settings.UnsentDeliveryGraceSeconds), now.AddMinutes(-settings.StuckDeliveryMinutes),
            settings.BatchSize, cancellationToken);

        var done = 0;
        foreach (var (registrationId, status, updatedAt, unsent) in due)
        {
            try
            {
                await queue.SendAsync(new TicketDeliveryMessage(registrationId), cancellationToken);
            }
            catch (Exception e) when (TicketQueue.IsUnavailable(e) && !cancellationToken.IsCancellationRequested)
            {
                tally.Error();
                logger.LogWarning(e, "Ticket queue unavailable; {Left} ticket deliveries wait for the next run", due.Count - done);
                return;
            }

            await deliveries.TouchAsync(registrationId, updatedAt, clock.GetUtcNow().UtcDateTime, cancellationToken);
            done++;
            if (unsent)
            {
                tally.Add("unsent");
                logger.LogInformation("Ticket delivery of {RegistrationId} never attempted: its message was lost after commit; enqueued", registrationId);
            }
            else
            {
                tally.Add("requeued");
                logger.LogInformation("Ticket delivery of {RegistrationId} stuck in {DeliveryStatus}; re-enqueued", registrationId, status);
            }
        }
    }
}
