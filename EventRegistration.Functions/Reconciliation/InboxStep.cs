using System.Text;
using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Razorpay;
using EventRegistration.Functions.Webhooks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// Step 2: a verified webhook stored in the inbox but never processed (its request failed after
/// the insert, and Razorpay has not redelivered it yet, or gave up) is applied now. Applying is
/// idempotent, so a redelivery racing this step only answers twice.
/// </summary>
public sealed class InboxStep(
    WebhookHandler webhooks,
    Database database,
    IOptions<ReconciliationOptions> options,
    TimeProvider clock,
    ILogger<InboxStep> logger) : IReconciliationStep
{
    private const string FindUnprocessed = """
        select event_id, body from webhook_inbox
         where processed_at is null and received_at < @Before
         order by received_at
         limit @Limit
        """;

    private const string MarkProcessed = """
        update webhook_inbox set processed_at = @Now, outcome = @Outcome, last_error = null
         where event_id = @EventId and processed_at is null
        """;

    private const string MarkFailed = "update webhook_inbox set last_error = @Error where event_id = @EventId";

    public string Name => "inbox";

    public async Task RunAsync(StepTally tally, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var before = clock.GetUtcNow().UtcDateTime - TimeSpan.FromSeconds(settings.InboxGraceSeconds);
        var rows = await database.RunAsync("reconcile_inbox_find", async connection =>
            (await connection.QueryAsync<(string EventId, string Body)>(FindUnprocessed, new { Before = before, Limit = settings.BatchSize })).ToList(),
            cancellationToken);

        foreach (var (eventId, body) in rows)
        {
            string outcome;
            var envelope = WebhookEnvelope.TryParse(Encoding.UTF8.GetBytes(body), out _);
            try
            {
                if (envelope is null)
                {
                    // Stored bodies passed this parser once; one that no longer does needs a person, not a retry every run.
                    logger.LogError("Stored webhook {EventId} no longer parses; marked unreadable", eventId);
                    outcome = "unreadable";
                }
                else
                {
                    outcome = await webhooks.ApplyAsync(envelope, cancellationToken);
                }

                await database.RunAsync("reconcile_inbox_mark", connection => connection.ExecuteAsync(MarkProcessed,
                    new { EventId = eventId, Outcome = outcome, Now = clock.GetUtcNow().UtcDateTime }), cancellationToken);
                tally.Add("reprocessed");
                logger.LogInformation("Stored webhook {EventId} ({EventType}) applied by reconciliation: {Outcome}", eventId, envelope?.EventType, outcome);
            }
            catch (Exception e) when (e is DependencyUnavailableException or RazorpayException or Npgsql.NpgsqlException && !cancellationToken.IsCancellationRequested)
            {
                tally.Error();
                logger.LogWarning(e, "Stored webhook {EventId} not applied; the next run tries again", eventId);
                await TryRecordFailureAsync(eventId, e.Message);
            }
        }
    }

    private async Task TryRecordFailureAsync(string eventId, string error)
    {
        try
        {
            await database.RunAsync("reconcile_inbox_failed", connection =>
                connection.ExecuteAsync(MarkFailed, new { EventId = eventId, Error = error.Length > 500 ? error[..500] : error }), CancellationToken.None);
        }
        catch (DependencyUnavailableException)
        {
            // The row stays unprocessed either way.
        }
    }
}
