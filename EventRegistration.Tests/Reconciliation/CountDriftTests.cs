using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Reconciliation;

public sealed class CountDriftTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task A_counter_changed_behind_the_systems_back_is_reported_once_per_drift_and_never_rewritten()
    {
        using var recorded = new RecordedMeasurements(app, "eventregistration.reconciliation.count_drifts");

        var eventId = await app.CreateEventAsync(capacity: 10);
        var steady = await app.CreateEventAsync(capacity: 10);
        await app.PaidRegistrationAsync(eventId);
        await app.PaidRegistrationAsync(steady);
        var clean = await app.ReconcileAsync();
        Assert.Equal(0, clean.Count("audit", "drifting"));

        await app.ExecuteAsync("update events set attendee_count = 3 where id = @eventId", new { eventId });
        var run = await app.ReconcileAsync();

        Assert.Equal(1, run.Count("audit", "drifting"));
        Assert.Equal(1, run.Count("audit", "new_anomalies"));
        var anomaly = Assert.Single(await app.QueryAsync<(Guid? EventId, string Detail)>("select event_id, detail from anomalies where kind = 'count_drift'"));
        Assert.Equal(eventId, anomaly.EventId);
        Assert.Contains("attendee_count is 3 but 1 registrations are paid", anomaly.Detail, StringComparison.Ordinal);
        Assert.Equal(3, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(1, recorded.Values("eventregistration.reconciliation.count_drifts").Sum());

        // The same drift is not recorded again, but stays visible in every run's summary and metric.
        var again = await app.ReconcileAsync();
        Assert.Equal(1, again.Count("audit", "drifting"));
        Assert.Equal(0, again.Count("audit", "new_anomalies"));
        Assert.Equal(1L, await app.ScalarAsync<long>("select count(*) from anomalies where kind = 'count_drift'"));
        Assert.Equal(2, recorded.Values("eventregistration.reconciliation.count_drifts").Sum());

        // A different drift is a new anomaly.
        await app.ExecuteAsync("update events set attendee_count = 0 where id = @eventId", new { eventId });
        var changed = await app.ReconcileAsync();
        Assert.Equal(1, changed.Count("audit", "new_anomalies"));
        Assert.Equal(2L, await app.ScalarAsync<long>("select count(*) from anomalies where kind = 'count_drift' and event_id = @eventId", new { eventId }));
        Assert.Equal(0, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
    }
}
