using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// Counts the open anomalies, by kind, and how many of them are older than one reconciliation
/// period, for the gauges <c>eventregistration.anomalies.open</c> / <c>.overdue</c> that the
/// alerts in infra/ read (an anomaly nobody looked at within a period; a refund that failed).
/// Anomalies live in PostgreSQL, which Azure Monitor cannot query, so the timer reports them.
/// Every kind is recorded every run, zeros included, so a resolved kind's gauge falls to 0.
/// </summary>
public sealed class AnomaliesStep(
    Database database,
    RegistrationMetrics metrics,
    IOptions<ReconciliationOptions> options,
    TimeProvider clock) : IReconciliationStep
{
    private const string CountOpen = """
        select kind, count(*) as open, count(*) filter (where created_at < @OverdueBefore) as overdue
          from anomalies
         where resolved_at is null
         group by kind
        """;

    public string Name => "anomalies";

    public async Task RunAsync(StepTally tally, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var overdueBefore = now - options.Value.Period(now);
        var counts = (await database.RunAsync("reconcile_anomalies", connection =>
                connection.QueryAsync<(string Kind, long Open, long Overdue)>(CountOpen, new { OverdueBefore = overdueBefore }), cancellationToken))
            .ToDictionary(c => c.Kind, StringComparer.Ordinal);

        var kinds = Enum.GetValues<AnomalyKind>().Select(AnomalyLog.Name).Union(counts.Keys, StringComparer.Ordinal);
        foreach (var kind in kinds)
        {
            var (_, open, overdue) = counts.GetValueOrDefault(kind, (kind, 0, 0));
            metrics.OpenAnomalies(kind, open, overdue);
            tally.Add("open", (int)open);
            tally.Add("overdue", (int)overdue);
        }
    }
}
