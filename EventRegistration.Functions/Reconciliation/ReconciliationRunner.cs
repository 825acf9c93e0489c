using System.Diagnostics;
using System.Text.Json;
using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace EventRegistration.Functions.Reconciliation;

public sealed record ReconciliationRunResult(long RunId, string Status, IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> Summary)
{
    public int Count(string step, string outcome) =>
        Summary.TryGetValue(step, out var counts) && counts.TryGetValue(outcome, out var n) ? n : 0;
}

/// <summary>
/// One reconciliation run. Guarded by a transaction-level PostgreSQL advisory lock
/// (<c>pg_try_advisory_xact_lock</c>) in a transaction held open on its own connection for the
/// whole run: a second run that starts meanwhile (another instance, a manual trigger, a past-due
/// tick) records itself as skipped and does nothing. A transaction-level lock, unlike a session
/// lock, works through PgBouncer's transaction pooling (the transaction keeps its server
/// session), and it goes away with the transaction if the process dies. The lock transaction
/// writes nothing, so it holds back no vacuum; the run's own rows are written on other
/// connections. Each step is bounded by <see cref="ReconciliationOptions.BatchSize"/> and
/// independent: a step that throws is logged and counted, the next one runs. Steps that need no
/// Razorpay run first. The run has a deadline (<see cref="ReconciliationOptions.RunDeadlineSeconds"/>,
/// well under the function timeout): when it passes, or the host cancels the invocation, the step
/// under way is cut short, the rest are recorded as not run, and the run row is closed
/// (<c>timed_out</c> / <c>cancelled</c>) on a token of its own, never left <c>running</c>.
/// </summary>
public sealed class ReconciliationRunner(
    Database database,
    IEnumerable<IReconciliationStep> steps,
    IOptions<ReconciliationOptions> options,
    RegistrationMetrics metrics,
    TimeProvider clock,
    ILogger<ReconciliationRunner> logger)
{
    /// <summary>The advisory lock key ("RECONCIL" in ASCII); advisory locks are scoped to the database.</summary>
    public const long LockKey = 0x5245_434F_4E43_494C;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private const string TryLock = "select pg_try_advisory_xact_lock(@Key)";

    private const string InsertRun = """
        insert into reconciliation_runs (started_at, status, is_past_due) values (@Now, @Status, @IsPastDue)
        returning id
        """;

    private const string FinishRun = """
        update reconciliation_runs
           set finished_at = @Now, status = @Status, summary = @Summary::jsonb, error_count = @ErrorCount
         where id = @Id
        """;

    /// <summary>How long closing the run row may take once the run's own token has ended.</summary>
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(10);

    // OrderBy is stable: within each group the registration order holds.
    private readonly IReadOnlyList<IReconciliationStep> _steps = steps.OrderBy(s => s.CallsRazorpay).ToList();

    public async Task<ReconciliationRunResult> RunAsync(bool isPastDue, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await using var session = await OpenSessionAsync(cancellationToken);
        await using var lockTransaction = await session.BeginTransactionAsync(cancellationToken);
        if (!await session.ExecuteScalarAsync<bool>(TryLock, new { Key = LockKey }, lockTransaction))
        {
            var skippedId = await RecordAsync(InsertRun, new { Now = Now(), Status = "skipped", IsPastDue = isPastDue }, cancellationToken);
            await FinishAsync(new { Id = skippedId, Now = Now(), Status = "skipped", Summary = "{}", ErrorCount = 0 }, cancellationToken);
            metrics.ReconciliationRun("skipped");
            logger.LogInformation("Reconciliation run {RunId} skipped: another run holds the lock", skippedId);
            return new ReconciliationRunResult(skippedId, "skipped", new Dictionary<string, IReadOnlyDictionary<string, int>>());
        }

        try
        {
            var runId = await RecordAsync(InsertRun, new { Now = Now(), Status = "running", IsPastDue = isPastDue }, cancellationToken);
            using var runScope = logger.BeginPaymentScope(reconciliationRunId: runId);
            if (isPastDue)
            {
                logger.LogInformation("Reconciliation run {RunId} is past due", runId);
            }

            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(options.Value.RunDeadlineSeconds), clock);
            using var run = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
            var tallies = new List<StepTally>();
            foreach (var step in _steps)
            {
                if (run.IsCancellationRequested)
                {
                    var skipped = new StepTally(step.Name);
                    skipped.Add("not_run");
                    tallies.Add(skipped);
                    continue;
                }

                tallies.Add(await RunStepAsync(runId, step, run.Token));
            }

            var summary = tallies.ToDictionary(t => t.Step, t => t.Counts, StringComparer.Ordinal);
            var errors = tallies.Sum(t => t.Errors);
            var status = cancellationToken.IsCancellationRequested ? "cancelled"
                : deadline.IsCancellationRequested ? "timed_out"
                : errors == 0 ? "completed" : "completed_with_errors";
            var summaryJson = JsonSerializer.Serialize(summary, Json);

            // The row is closed whatever ended the run: not on the run's token, which may be the one that ended it.
            using (var closing = new CancellationTokenSource(CloseTimeout))
            {
                await FinishAsync(new { Id = runId, Now = Now(), Status = status, Summary = summaryJson, ErrorCount = errors }, closing.Token);
            }

            metrics.ReconciliationRun(status);
            logger.LogInformation("Reconciliation run {RunId} {Status} in {ElapsedMs} ms with {ErrorCount} errors: {Summary}",
                runId, status, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds, errors, summaryJson);
            return new ReconciliationRunResult(runId, status, summary.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal));
        }
        finally
        {
            await ReleaseAsync(lockTransaction);
        }
    }

    private Task<long> RecordAsync(string sql, object parameters, CancellationToken cancellationToken) =>
        database.RunAsync("reconcile_run_record", connection => connection.ExecuteScalarAsync<long>(sql, parameters), cancellationToken);

    private Task<int> FinishAsync(object parameters, CancellationToken cancellationToken) =>
        database.RunAsync("reconcile_run_finish", connection => connection.ExecuteAsync(FinishRun, parameters), cancellationToken);

    private async Task<StepTally> RunStepAsync(long runId, IReconciliationStep step, CancellationToken cancellationToken)
    {
        var tally = new StepTally(step.Name);
        try
        {
            await step.RunAsync(tally, cancellationToken);
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            // Whatever the step was doing is either committed or rolled back; the next run goes on from there.
            tally.Add("cut_short");
            logger.LogWarning("Reconciliation run {RunId}: step {Step} cut short by the run's deadline or the host's cancellation", runId, step.Name);
        }
        catch (Exception e)
        {
            tally.Error();
            logger.LogError(e, "Reconciliation run {RunId}: step {Step} failed; the next steps still run", runId, step.Name);
        }

        foreach (var (outcome, count) in tally.Counts)
        {
            if (outcome == "errors")
            {
                metrics.ReconciliationErrors(step.Name, count);
            }
            else if (count > 0)
            {
                metrics.ReconciliationItems(step.Name, outcome, count);
            }
        }

        return tally;
    }

    private async Task<NpgsqlConnection> OpenSessionAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await database.DataSource.OpenConnectionAsync(cancellationToken);
        }
        catch (Exception e) when (Database.IsTransient(e) && !cancellationToken.IsCancellationRequested)
        {
            logger.LogError(e, "Reconciliation cannot start: the database is unavailable");
            throw new DependencyUnavailableException("The database is unavailable; the next run will try again.", retryAfterSeconds: 60, e);
        }
    }

    private async Task ReleaseAsync(NpgsqlTransaction lockTransaction)
    {
        try
        {
            await lockTransaction.RollbackAsync(CancellationToken.None);
        }
        catch (Exception e) when (Database.IsTransient(e))
        {
            // A broken connection has lost its transaction, and the lock with it.
            logger.LogWarning(e, "Reconciliation lock transaction not ended explicitly; the connection's end released it");
        }
    }

    private DateTime Now() => clock.GetUtcNow().UtcDateTime;
}
