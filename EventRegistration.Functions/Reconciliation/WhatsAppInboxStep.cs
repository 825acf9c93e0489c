using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.WhatsAppWebhooks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// The WhatsApp inbox's part of the run, like <see cref="InboxStep"/> for Razorpay's: a stored status
/// webhook whose processing failed, older than Reconciliation__InboxGraceSeconds, is processed now
/// (Meta may redeliver it later, or never); then bodies processed longer ago than
/// WhatsAppWebhook__InboxRetentionDays are purged, with the statuses' recipient numbers.
/// </summary>
public sealed class WhatsAppInboxStep(
    DeliveryReceipts receipts,
    IOptions<ReconciliationOptions> options,
    IOptions<WhatsAppWebhookOptions> webhook,
    TimeProvider clock,
    ILogger<WhatsAppInboxStep> logger) : IReconciliationStep
{
    public string Name => "whatsapp_inbox";

    public async Task RunAsync(StepTally tally, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var now = clock.GetUtcNow().UtcDateTime;
        foreach (var (sha, body) in await receipts.FindUnprocessedAsync(now.AddSeconds(-settings.InboxGraceSeconds), settings.BatchSize, cancellationToken))
        {
            try
            {
                tally.Add(await receipts.RetryStoredAsync(sha, body, cancellationToken) ? "reprocessed" : "unprocessable");
            }
            catch (Exception e) when (e is DependencyUnavailableException && !cancellationToken.IsCancellationRequested)
            {
                // The reason is noted on the row; it stays stored for the next run.
                tally.Error();
                logger.LogWarning("A stored WhatsApp webhook was not applied; the next run tries again");
            }
        }

        var retainedFrom = now.AddDays(-webhook.Value.InboxRetentionDays);
        var (bodies, recipients) = await receipts.PurgeAsync(retainedFrom, settings.BatchSize, cancellationToken);
        if (bodies > 0)
        {
            tally.Add("bodies_purged", bodies);
        }

        if (recipients > 0)
        {
            tally.Add("recipients_purged", recipients);
        }
    }
}
