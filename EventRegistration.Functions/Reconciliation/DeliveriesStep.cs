using Azure;
using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// Step 5: a paid registration's ticket delivery stuck in <c>queued</c> or <c>sending</c> (its
/// message lost, poisoned, or its worker gone mid-send) gets a new queue message; the blob lease
/// and the delivery state machine make a second message harmless. A <c>sent</c> or
/// <c>failed</c> delivery is never re-enqueued (failed is an operator's). Only rows whose outbox
/// message went out longer ago than the threshold count as stuck, so a row the outbox step has
/// just dispatched is not sent twice. The row's updated_at is bumped, so the next run waits
/// another threshold before trying again.
/// </summary>
public sealed class DeliveriesStep(
    TicketQueue queue,
    Database database,
    IOptions<ReconciliationOptions> options,
    TimeProvider clock,
    ILogger<DeliveriesStep> logger) : IReconciliationStep
{
    private const string FindStuck = """
        select d.registration_id, d.status, d.updated_at
          from ticket_deliveries d
          join event_registrations r on r.id = d.registration_id and r.status = 'paid'
         where d.status in ('queued', 'sending') and d.updated_at < @Before
           and not exists (select 1 from outbox o
                            where o.registration_id = d.registration_id
                              and (o.dispatched_at is null or o.dispatched_at >= @Before))
         order by d.updated_at
         limit @Limit
        """;

    private const string Bump = """
        update ticket_deliveries set updated_at = @Now
         where registration_id = @RegistrationId and status in ('queued', 'sending') and updated_at = @Seen
        """;

    public string Name => "deliveries";

    public async Task RunAsync(StepTally tally, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var before = clock.GetUtcNow().UtcDateTime.AddMinutes(-settings.StuckDeliveryMinutes);
        var stuck = await database.RunAsync("reconcile_deliveries_find", async connection =>
            (await connection.QueryAsync<(Guid RegistrationId, string Status, DateTime UpdatedAt)>(FindStuck, new { Before = before, Limit = settings.BatchSize })).ToList(),
            cancellationToken);

        foreach (var (registrationId, status, updatedAt) in stuck)
        {
            try
            {
                await queue.SendAsync(new TicketDeliveryMessage(registrationId), cancellationToken);
            }
            catch (Exception e) when (e is RequestFailedException or HttpRequestException or IOException or TimeoutException or AggregateException or TaskCanceledException
                && !cancellationToken.IsCancellationRequested)
            {
                tally.Error();
                logger.LogWarning(e, "Ticket queue unavailable; {Left} stuck deliveries wait for the next run", stuck.Count - tally.Get("requeued"));
                return;
            }

            await database.RunAsync("reconcile_deliveries_bump", connection => connection.ExecuteAsync(Bump,
                new { RegistrationId = registrationId, Seen = updatedAt, Now = clock.GetUtcNow().UtcDateTime }), cancellationToken);
            tally.Add("requeued");
            logger.LogInformation("Ticket delivery of {RegistrationId} stuck in {DeliveryStatus}; re-enqueued", registrationId, status);
        }
    }
}
