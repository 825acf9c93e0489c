using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Tickets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// The deliveries step: a paid registration's ticket delivery whose queue message is lost gets a new one. The
/// <c>queued</c> delivery written with the payment is the durable record that a ticket is owed, so
/// one still as the confirmation wrote it, or as an operator's resend reopened it, after
/// <see cref="ReconciliationOptions.UnsentDeliveryGraceSeconds"/> (its message lost at commit: queue
/// down, process gone) is enqueued (<c>unsent</c>); one stuck in
/// <c>queued</c> or <c>sending</c> for <see cref="ReconciliationOptions.StuckDeliveryMinutes"/> (its
/// message poisoned, its lease holder gone mid-send, its scheduled retry never enqueued, or the
/// copy this step enqueued lost again) is re-enqueued (<c>requeued</c>). The blob lease and the delivery state machine make a second message
/// harmless. A <c>sent</c>, <c>failed</c> or <c>withheld</c> delivery is never enqueued (failed is an
/// operator's), nor one waiting for its scheduled retry. The row's updated_at is bumped, so the next
/// run waits again.
/// <para>
/// A message behind a long backlog (an opening's 10,000 tickets paced at ~72/s take 139 s) is not
/// lost, only late, so the grace grows by the time the queue's backlog takes at the number's pace
/// (<see cref="UnsentAfter"/>): no extra copy per waiting delivery when the queue is busiest. It
/// never grows past the stuck threshold, so a message really lost is still found (invariant 8).
/// </para>
/// </summary>
public sealed class DeliveriesStep(
    TicketQueue queue,
    TicketDeliveries deliveries,
    WhatsAppSendPace pace,
    IOptions<ReconciliationOptions> options,
    TimeProvider clock,
    ILogger<DeliveriesStep> logger) : IReconciliationStep
{
    public string Name => "deliveries";

    /// <summary>
    /// How old a never-attempted delivery must be to count as unsent: the grace, plus what the
    /// <paramref name="backlog"/> on the queue takes to send, at most the stuck threshold (and never
    /// less than the grace). The count is approximate and includes delayed retries, so a backlog of
    /// those waits longer than needed, but never longer than a stuck delivery does.
    /// </summary>
    public static TimeSpan UnsentAfter(ReconciliationOptions settings, TimeSpan backlog)
    {
        var grace = TimeSpan.FromSeconds(settings.UnsentDeliveryGraceSeconds);
        var ceiling = TimeSpan.FromMinutes(settings.StuckDeliveryMinutes);
        return grace + backlog < ceiling ? grace + backlog : grace > ceiling ? grace : ceiling;
    }

    public async Task RunAsync(StepTally tally, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        int backlog;
        try
        {
            backlog = await queue.ApproximateCountAsync(cancellationToken);
        }
        catch (Exception e) when (TicketQueue.IsUnavailable(e) && !cancellationToken.IsCancellationRequested)
        {
            // Nothing could be enqueued either: the deliveries wait for the next run.
            tally.Error();
            logger.LogWarning(e, "Ticket queue unavailable; ticket deliveries wait for the next run");
            return;
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var unsentAfter = UnsentAfter(settings, pace.TimeToSend(backlog));
        var due = await deliveries.FindStuckAsync(now - unsentAfter, now.AddMinutes(-settings.StuckDeliveryMinutes),
            settings.BatchSize, cancellationToken);
        if (due.Count > 0)
        {
            logger.LogInformation("{Due} ticket deliveries to enqueue; {Backlog} messages on the ticket queue, unsent after {UnsentAfterSeconds:F0} s",
                due.Count, backlog, unsentAfter.TotalSeconds);
        }

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
