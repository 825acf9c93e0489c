using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Razorpay;
using EventRegistration.Functions.Webhooks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// Step 2: a verified webhook stored in the inbox but never processed (its request failed after
/// the insert, and Razorpay has not redelivered it yet, or gave up) is processed now, exactly as
/// the webhook processes it (<see cref="WebhookHandler.ProcessAsync"/>). Applying is idempotent,
/// so a redelivery racing this step only answers twice. Then the inbox's housekeeping: bodies of
/// webhooks settled longer ago than <c>Webhooks:InboxRetentionDays</c> are purged.
/// </summary>
public sealed class InboxStep(
    WebhookHandler webhooks,
    WebhookInbox inbox,
    IOptions<ReconciliationOptions> options,
    IOptions<WebhookOptions> webhookOptions,
    TimeProvider clock,
    ILogger<InboxStep> logger) : IReconciliationStep
{
    public string Name => "inbox";

    public async Task RunAsync(StepTally tally, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var before = clock.GetUtcNow().UtcDateTime - TimeSpan.FromSeconds(settings.InboxGraceSeconds);
        var rows = await inbox.FindUnprocessedAsync(before, settings.BatchSize, cancellationToken);

        foreach (var (eventId, body) in rows)
        {
            try
            {
                var envelope = WebhookEnvelope.TryParse(body, out var problem);
                if (envelope is null)
                {
                    // Stored bodies passed this parser once; one that no longer does needs a person, not a retry every run.
                    logger.LogError("Stored webhook {EventId} no longer parses; settled as unprocessable", eventId);
                    await inbox.MarkUnprocessableAsync(eventId, null, $"the stored body no longer parses ({Detail(problem)})", cancellationToken);
                    tally.Add(WebhookInbox.Unprocessable);
                    continue;
                }

                var processing = await webhooks.ProcessAsync(eventId, envelope, cancellationToken);
                tally.Add(processing.Applied ? "reprocessed" : WebhookInbox.Unprocessable);
                logger.LogInformation("Stored webhook {EventId} ({EventType}) processed by reconciliation: {Outcome}", eventId, envelope.EventType, processing.Outcome);
            }
            catch (Exception e) when (e is DependencyUnavailableException or RazorpayException && !cancellationToken.IsCancellationRequested)
            {
                // ProcessAsync noted the reason on the row; it stays stored for the next run.
                tally.Error();
                logger.LogWarning(e, "Stored webhook {EventId} not applied; the next run tries again", eventId);
            }
        }

        var retainedFrom = clock.GetUtcNow().UtcDateTime - webhookOptions.Value.InboxRetention;
        var purged = await inbox.PurgeBodiesAsync(retainedFrom, settings.BatchSize, cancellationToken);
        if (purged > 0)
        {
            tally.Add("purged", purged);
            logger.LogInformation("Purged the bodies of {Count} webhooks settled before {RetainedFrom:o}", purged, retainedFrom);
        }
    }

    private static string Detail(Infrastructure.Http.ApiResult? problem) =>
        problem?.Body is Infrastructure.Http.ProblemDocument document ? document.Detail : "no detail";
}
