using Azure;
using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Outbox;

/// <summary>
/// Sends committed outbox rows to the ticket queue and marks them dispatched. A failure leaves
/// the row undispatched for the reconciliation timer; a message sent twice is harmless (the
/// ticket lease and delivery state machine see to that), a message never sent is not.
/// </summary>
public sealed class OutboxDispatcher(
    Database database,
    TicketQueue queue,
    RegistrationMetrics metrics,
    TimeProvider clock,
    ILogger<OutboxDispatcher> logger)
{
    /// <summary>
    /// Committed without waiting for the WAL flush: a mark lost in a server crash only means the
    /// timer sends the message once more, which the ticket lease and state machine absorb. It
    /// spares every confirmation a second synchronous commit.
    /// </summary>
    private const string MarkDispatched = """
        set local synchronous_commit = off;
        update outbox set dispatched_at = @Now, dispatch_attempts = dispatch_attempts + 1, last_error = null
         where id = @Id and dispatched_at is null
        """;

    private const string MarkFailed = """
        update outbox set dispatch_attempts = dispatch_attempts + 1, last_error = @Error where id = @Id
        """;

    /// <summary>Rows left undispatched past the grace period, oldest first.</summary>
    private const string FindUndispatched = """
        select id, message from outbox
         where dispatched_at is null and created_at < @Before
         order by created_at
         limit @Limit
        """;

    /// <returns>True when the message is on the queue and the row is marked.</returns>
    public async Task<bool> DispatchAsync(long outboxId, TicketDeliveryMessage message, CancellationToken cancellationToken)
    {
        try
        {
            await queue.SendAsync(message, cancellationToken);
        }
        catch (Exception e) when (TicketQueue.IsUnavailable(e) && !cancellationToken.IsCancellationRequested)
        {
            metrics.OutboxDispatch("queue_unavailable");
            logger.LogWarning(e, "Outbox row {OutboxId} not dispatched; the reconciliation timer will send it", outboxId);
            await TryRecordFailureAsync(outboxId, e.Message, cancellationToken);
            return false;
        }

        try
        {
            await database.RunAsync("outbox_mark", connection =>
                connection.ExecuteAsync(MarkDispatched, new { Id = outboxId, Now = clock.GetUtcNow().UtcDateTime }), cancellationToken);
            metrics.OutboxDispatch("dispatched");
            return true;
        }
        catch (DependencyUnavailableException e)
        {
            // The message is on the queue; the row will be sent again by the timer, which is safe.
            metrics.OutboxDispatch("unmarked");
            logger.LogWarning(e, "Outbox row {OutboxId} sent but not marked", outboxId);
            return false;
        }
    }

    /// <summary>
    /// Dispatches rows older than <paramref name="grace"/> (younger ones may still be on their
    /// way from the confirming request). Each send happens outside any transaction; the
    /// reconciliation's run lock keeps two runs from working the same rows.
    /// </summary>
    /// <returns>How many rows were sent.</returns>
    public async Task<int> DispatchPendingAsync(TimeSpan grace, int limit, CancellationToken cancellationToken)
    {
        var before = clock.GetUtcNow().UtcDateTime - grace;
        var rows = await database.RunAsync("outbox_find", async connection =>
            (await connection.QueryAsync<(long Id, string Message)>(FindUndispatched, new { Before = before, Limit = limit })).ToList(),
            cancellationToken);

        var sent = 0;
        foreach (var (id, text) in rows)
        {
            var message = TicketDeliveryMessage.TryParse(text);
            if (message is null)
            {
                logger.LogError("Outbox row {OutboxId} holds an unreadable message", id);
                await TryRecordFailureAsync(id, "unreadable outbox message", cancellationToken);
                continue;
            }

            if (!await DispatchAsync(id, message, cancellationToken))
            {
                break;
            }

            sent++;
        }

        return sent;
    }

    private async Task TryRecordFailureAsync(long outboxId, string error, CancellationToken cancellationToken)
    {
        try
        {
            await database.RunAsync("outbox_mark", connection =>
                connection.ExecuteAsync(MarkFailed, new { Id = outboxId, Error = error.Length > 500 ? error[..500] : error }), cancellationToken);
        }
        catch (DependencyUnavailableException)
        {
            // Nothing more to do: the row is undispatched either way.
        }
    }
}
