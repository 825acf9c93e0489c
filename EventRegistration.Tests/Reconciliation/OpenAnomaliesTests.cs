using EventRegistration.Functions.Anomalies;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Reconciliation;

/// <summary>
/// The gauges behind two alerts in infra/: an anomaly left open for more than one reconciliation
/// period, and a failed refund. Azure Monitor cannot read PostgreSQL, so each run reports them.
/// </summary>
public sealed class OpenAnomaliesTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Each_run_reports_open_anomalies_by_kind_and_those_older_than_one_period_as_overdue()
    {
        using var recorded = new RecordedMeasurements(app, name => name.StartsWith("eventregistration.anomalies.", StringComparison.Ordinal));
        // Each gauge's latest value per kind, as a dashboard shows it.
        Dictionary<string, long> Latest(string gauge) => recorded.All.Where(m => m.Instrument == gauge)
            .GroupBy(m => m.Tag("kind"), StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal);
        long Open(string kind) => Latest("eventregistration.anomalies.open")[kind];
        long Overdue(string kind) => Latest("eventregistration.anomalies.overdue")[kind];

        // Clean-up from other tests of this class's database: every anomaly resolved.
        await app.ExecuteAsync("update anomalies set resolved_at = now() where resolved_at is null");
        await using (var connection = app.OpenConnection())
        {
            var now = app.Clock.GetUtcNow().UtcDateTime;
            // Schedule every 5 minutes: 7 minutes old is overdue, 2 minutes old is not.
            await AnomalyLog.RecordAsync(connection, null, new Anomaly(AnomalyKind.RefundFailed, "refund failed: old"), now.AddMinutes(-7));
            await AnomalyLog.RecordAsync(connection, null, new Anomaly(AnomalyKind.RefundFailed, "refund failed: new"), now.AddMinutes(-2));
            await AnomalyLog.RecordAsync(connection, null, new Anomaly(AnomalyKind.TicketPoisoned, "poisoned: resolved"), now.AddMinutes(-30));
        }

        await app.ExecuteAsync("update anomalies set resolved_at = now() where detail = 'poisoned: resolved'");

        var run = await app.ReconcileAsync();

        Assert.Equal(2, run.Count("anomalies", "open"));
        Assert.Equal(1, run.Count("anomalies", "overdue"));
        Assert.Equal(2, Open("refund_failed"));
        Assert.Equal(1, Overdue("refund_failed"));
        // Every kind is reported, zeros included, so a resolved kind's gauge falls back to 0.
        Assert.Equal(0, Open("ticket_poisoned"));
        Assert.Equal(Enum.GetValues<AnomalyKind>().Select(AnomalyLog.Name).Order(), Latest("eventregistration.anomalies.open").Keys.Order());

        // Resolved by an operator: the next run reports nothing open.
        await app.ExecuteAsync("update anomalies set resolved_at = now() where resolved_at is null");
        var after = await app.ReconcileAsync();
        Assert.Equal(0, after.Count("anomalies", "open"));
        Assert.Equal(0, Open("refund_failed"));
        Assert.Equal(0, Overdue("refund_failed"));
    }
}
