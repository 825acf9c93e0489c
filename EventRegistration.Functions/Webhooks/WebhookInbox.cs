using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Webhooks;

/// <summary>What the inbox already knew of an event id when a delivery was stored.</summary>
public sealed record StoredWebhook(bool Processed, string Outcome);

/// <summary>A stored webhook not yet settled, as the reconciliation picks it up.</summary>
public sealed record PendingWebhook(string EventId, byte[] Body);

/// <summary>
/// The one owner of <c>webhook_inbox</c> and its lifecycle, used by the webhook and by the
/// reconciliation alike (in the spirit of Lago's InboundWebhook):
/// <code>
/// stored ──► processed (outcome)                       applied, or nothing to do
///    │  ╰──► processed, outcome 'unprocessable'        can never be applied: reason in last_error, an anomaly for an operator
///    ╰─ (a failure leaves it stored, last_error says why; the redelivery or the timer tries again)
/// processed ──► body purged after Webhooks:InboxRetentionDays (the row stays, so the event id still dedupes)
/// </code>
/// A row is settled once (every transition out of "stored" is guarded by <c>processed_at is null</c>).
/// </summary>
public sealed class WebhookInbox(Database database, TimeProvider clock, ILogger<WebhookInbox> logger)
{
    public const string Unprocessable = "unprocessable";

    private const int MaxErrorLength = 500;

    private const string StoreSql = """
        insert into webhook_inbox (event_id, event_type, body, received_at)
        values (@EventId, @EventType, @Body, @Now)
        on conflict (event_id) do update set delivery_count = webhook_inbox.delivery_count + 1
        returning processed_at is not null as processed, coalesce(outcome, '') as outcome
        """;

    private const string MarkProcessedSql = """
        update webhook_inbox set processed_at = @Now, outcome = @Outcome, last_error = null
         where event_id = @EventId and processed_at is null
        """;

    private const string MarkUnprocessableSql = """
        update webhook_inbox set processed_at = @Now, outcome = 'unprocessable', last_error = @Reason
         where event_id = @EventId and processed_at is null
        """;

    private const string MarkFailedSql = "update webhook_inbox set last_error = @Error where event_id = @EventId and processed_at is null";

    private const string FindUnprocessedSql = """
        select event_id as "EventId", body as "Body" from webhook_inbox
         where processed_at is null and received_at < @Before
         order by received_at
         limit @Limit
        """;

    private const string PurgeSql = """
        update webhook_inbox set body = null, body_purged_at = @Now
         where id in (select id from webhook_inbox
                       where body is not null and processed_at < @Before
                       order by processed_at
                       limit @Limit)
        """;

    /// <summary>Stores the verified body exactly as signed; a second delivery of the event id only counts.</summary>
    public Task<StoredWebhook> StoreAsync(string eventId, string eventType, byte[] body, CancellationToken cancellationToken) =>
        database.RunAsync("webhook_store", connection => connection.QuerySingleAsync<StoredWebhook>(StoreSql,
            new { EventId = eventId, EventType = eventType, Body = body, Now = Now() }), cancellationToken);

    public Task MarkProcessedAsync(string eventId, string outcome, CancellationToken cancellationToken) =>
        database.RunAsync("webhook_processed", connection =>
            connection.ExecuteAsync(MarkProcessedSql, new { EventId = eventId, Outcome = outcome, Now = Now() }), cancellationToken);

    /// <summary>
    /// Settles a webhook that can never be applied as it stands (the database refuses what it
    /// carries, or its stored body no longer parses), and tells an operator why, in one transaction.
    /// </summary>
    public Task MarkUnprocessableAsync(string eventId, string? eventType, string reason, CancellationToken cancellationToken) =>
        database.InTransactionAsync("webhook_unprocessable", async (connection, transaction) =>
        {
            var now = Now();
            var settled = await connection.ExecuteAsync(MarkUnprocessableSql, new { EventId = eventId, Reason = Truncate(reason), Now = now }, transaction);
            if (settled > 0)
            {
                await AnomalyLog.RecordAsync(connection, transaction, new Anomaly(AnomalyKind.WebhookUnprocessable,
                    $"Webhook {eventId} ({eventType ?? "unknown type"}) can never be applied: {reason}. Its body is in webhook_inbox; it was acknowledged so that Razorpay stops redelivering it."),
                    now);
            }

            return settled;
        }, cancellationToken);

    /// <summary>
    /// Notes why an attempt failed; the row stays unsettled for the redelivery or the timer. Best
    /// effort within a short time of its own: the caller is already failing, often for the same reason.
    /// </summary>
    public async Task TryMarkFailedAsync(string eventId, string error)
    {
        using var shortly = new CancellationTokenSource(TimeSpan.FromMilliseconds(500), clock);
        try
        {
            await database.RunAsync("webhook_failed", connection =>
                connection.ExecuteAsync(MarkFailedSql, new { EventId = eventId, Error = Truncate(error) }), shortly.Token);
        }
        catch (Exception e) when (e is DependencyUnavailableException or OperationCanceledException)
        {
            logger.LogWarning("Could not note the failure of webhook {EventId}; it stays unprocessed either way", eventId);
        }
    }

    /// <summary>Webhooks stored before <paramref name="before"/> and not settled, oldest first.</summary>
    public async Task<IReadOnlyList<PendingWebhook>> FindUnprocessedAsync(DateTime before, int limit, CancellationToken cancellationToken) =>
        await database.RunAsync("webhook_find_unprocessed", async connection =>
            (await connection.QueryAsync<PendingWebhook>(FindUnprocessedSql, new { Before = before, Limit = limit })).ToList(), cancellationToken);

    /// <summary>Drops the bodies (payers' email and contact) of webhooks settled before <paramref name="before"/>; the rows stay.</summary>
    public Task<int> PurgeBodiesAsync(DateTime before, int limit, CancellationToken cancellationToken) =>
        database.RunAsync("webhook_purge_bodies", connection =>
            connection.ExecuteAsync(PurgeSql, new { Before = before, Limit = limit, Now = Now() }), cancellationToken);

    private DateTime Now() => clock.GetUtcNow().UtcDateTime;

    private static string Truncate(string text) => text.Length > MaxErrorLength ? text[..MaxErrorLength] : text;
}
