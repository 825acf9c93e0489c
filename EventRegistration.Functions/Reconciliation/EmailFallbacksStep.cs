using EventRegistration.Functions.EmailFallback;
using EventRegistration.Functions.Infrastructure.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// A claimed e-mail fallback still <c>queued</c>/<c>sending</c> after Reconciliation__StuckDeliveryMinutes,
/// and not waiting for a scheduled retry, has lost its queue message (the enqueue after the webhook's
/// commit failed, the message was poisoned, or its worker died): it is put on the queue again. The
/// handler's compare-and-set decides who sends, so a copy too many sends nothing.
/// </summary>
public sealed class EmailFallbacksStep(
    TicketEmailFallbacks fallbacks,
    TicketQueue queue,
    IOptions<ReconciliationOptions> options,
    TimeProvider clock,
    ILogger<EmailFallbacksStep> logger) : IReconciliationStep
{
    public string Name => "email_fallbacks";

    public async Task RunAsync(StepTally tally, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var before = now.AddMinutes(-options.Value.StuckDeliveryMinutes);
        foreach (var (registrationId, updatedAt) in await fallbacks.FindStuckAsync(before, options.Value.BatchSize, cancellationToken))
        {
            await queue.SendAsync(TicketDeliveryMessage.Email(registrationId), cancellationToken);
            await fallbacks.TouchAsync(registrationId, updatedAt, now, cancellationToken);
            tally.Add("requeued");
            logger.LogWarning("Ticket e-mail of {RegistrationId} was stuck; put on the queue again", registrationId);
        }
    }
}
