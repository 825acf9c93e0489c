using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Outbox;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>Step 1: outbox rows the confirming request could not send (queue down after commit) go to the queue now.</summary>
public sealed class OutboxStep(
    OutboxDispatcher dispatcher,
    Database database,
    IOptions<ReconciliationOptions> options,
    TimeProvider clock,
    ILogger<OutboxStep> logger) : IReconciliationStep
{
    private const string CountLeft = "select count(*) from outbox where dispatched_at is null and created_at < @Before";

    public string Name => "outbox";

    public async Task RunAsync(StepTally tally, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var grace = TimeSpan.FromSeconds(settings.OutboxGraceSeconds);
        var sent = await dispatcher.DispatchPendingAsync(grace, settings.BatchSize, cancellationToken);
        tally.Add("dispatched", sent);

        // The dispatcher stops at the first send that fails (the queue is down); what is left waits for the next run.
        var before = clock.GetUtcNow().UtcDateTime - grace;
        var left = await database.RunAsync("reconcile_outbox_left", connection =>
            connection.ExecuteScalarAsync<int>(CountLeft, new { Before = before }), cancellationToken);
        tally.Add("left", left);
        if (left > 0 && sent < settings.BatchSize)
        {
            tally.Error();
            logger.LogWarning("{Left} outbox rows are still undispatched after {Sent} were sent; the next run tries again", left, sent);
        }
    }
}
