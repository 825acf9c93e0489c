using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Reconciliation;
using EventRegistration.Functions.Tickets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Health;

public enum CheckStatus
{
    Ok,
    Unreachable,
    Pending,
    Stale,
    NeverRun,
    Unknown,
}

/// <summary>
/// What <c>GET /api/health</c> reports: statuses, counts and the last run's time, never a
/// configuration value or an exception's text (those name hosts and accounts; they go to the log).
/// </summary>
public sealed record HealthReport(
    string Status,
    DateTimeOffset CheckedAt,
    CheckStatus Database,
    CheckStatus Storage,
    MigrationsReport Migrations,
    ReconciliationReport Reconciliation)
{
    /// <summary>Down when a dependency a member's payment needs is down; reconciliation lagging only degrades.</summary>
    public bool IsUp => Database == CheckStatus.Ok && Storage == CheckStatus.Ok && Migrations.Status == CheckStatus.Ok;
}

public sealed record MigrationsReport(CheckStatus Status, int? Pending);

public sealed record ReconciliationReport(CheckStatus Status, DateTimeOffset? LastCompletedAt, string? LastRunStatus);

/// <summary>
/// The checks behind the health endpoint, each bounded by a short timeout so the probe answers
/// while a dependency hangs. Migrations are current when every script embedded in this build is
/// in DbUp's journal; reconciliation is stale when no run completed for three periods of its
/// schedule (the alert threshold of issue 12).
/// </summary>
public sealed class HealthCheck(
    Database database,
    TicketQueue queue,
    TicketBlobs blobs,
    IOptions<ReconciliationOptions> reconciliation,
    TimeProvider clock,
    ILogger<HealthCheck> logger)
{
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(3);

    public async Task<HealthReport> RunAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var storage = CheckStorageAsync(cancellationToken);
        var (databaseStatus, migrations, runs) = await CheckDatabaseAsync(now, cancellationToken);
        var storageStatus = await storage;
        var report = new HealthReport("", now, databaseStatus, storageStatus, migrations, runs);
        var status = !report.IsUp ? "unhealthy" : runs.Status == CheckStatus.Ok ? "healthy" : "degraded";
        return report with { Status = status };
    }

    private async Task<(CheckStatus, MigrationsReport, ReconciliationReport)> CheckDatabaseAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CheckTimeout);
        try
        {
            await using var connection = await database.DataSource.OpenConnectionAsync(timeout.Token);
            var applied = (await connection.QueryAsync<string>(new CommandDefinition(
                "select scriptname from schemaversions", cancellationToken: timeout.Token))).ToHashSet(StringComparer.Ordinal);
            var pending = Migrator.EmbeddedScripts().Count(script => !applied.Contains(script));
            var last = await connection.QuerySingleAsync<(DateTime? LastCompletedAt, string? LastRunStatus)>(new CommandDefinition(
                """
                select (select max(finished_at) from reconciliation_runs where status in ('completed', 'completed_with_errors')),
                       (select status from reconciliation_runs order by id desc limit 1)
                """, cancellationToken: timeout.Token));
            return (CheckStatus.Ok, new MigrationsReport(pending == 0 ? CheckStatus.Ok : CheckStatus.Pending, pending), Reconciliation(now, last.LastCompletedAt, last.LastRunStatus));
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or OperationCanceledException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(e, "Health check: the database did not answer");
            return (CheckStatus.Unreachable, new MigrationsReport(CheckStatus.Unknown, null), new ReconciliationReport(CheckStatus.Unknown, null, null));
        }
    }

    private ReconciliationReport Reconciliation(DateTimeOffset now, DateTime? lastCompleted, string? lastStatus)
    {
        if (lastCompleted is null)
        {
            return new ReconciliationReport(CheckStatus.NeverRun, null, lastStatus);
        }

        var completedAt = new DateTimeOffset(DateTime.SpecifyKind(lastCompleted.Value, DateTimeKind.Utc));
        var period = reconciliation.Value.Period(now.UtcDateTime);
        return new ReconciliationReport(now - completedAt > 3 * period ? CheckStatus.Stale : CheckStatus.Ok, completedAt, lastStatus);
    }

    private async Task<CheckStatus> CheckStorageAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CheckTimeout);
        try
        {
            // Exists answers false for a queue or container not made yet: the account still answered.
            await queue.Client.ExistsAsync(timeout.Token);
            await blobs.Locks.ExistsAsync(timeout.Token);
            return CheckStatus.Ok;
        }
        catch (Exception e) when (TicketQueue.IsUnavailable(e) || e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(e, "Health check: storage did not answer");
            return CheckStatus.Unreachable;
        }
    }
}
