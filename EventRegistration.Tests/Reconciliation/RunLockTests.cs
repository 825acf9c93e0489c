using Dapper;
using EventRegistration.Functions.Reconciliation;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Reconciliation;

public sealed class RunLockTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task A_run_that_finds_another_holding_the_lock_does_nothing_and_is_recorded_as_skipped()
    {
        var eventId = await app.CreateEventAsync(capacity: 10);
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        app.Razorpay.OrderPayments(orderId, ReconciliationHarness.Payment(TestApp.NewPaymentId(), orderId, 50_000, "captured"));
        app.AgeBeyondGrace();

        await using (var other = app.OpenConnection())
        {
            // Another run in progress, as another instance would hold it.
            await other.ExecuteAsync("select pg_advisory_lock(@key)", new { key = ReconciliationRunner.LockKey });
            var skipped = await app.ReconcileAsync();
            Assert.Equal("skipped", skipped.Status);
            Assert.Empty(app.Razorpay.Requests($"/v1/orders/{orderId}/payments", "GET"));
            Assert.Equal("pending", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
            await other.ExecuteAsync("select pg_advisory_unlock(@key)", new { key = ReconciliationRunner.LockKey });
        }

        var run = await app.ReconcileAsync(isPastDue: true);
        Assert.Equal("completed", run.Status);
        Assert.Equal(1, run.Count("orders", "confirmed"));
        Assert.True(await app.ScalarAsync<bool>("select is_past_due from reconciliation_runs where id = @Id", new { run.Id }));

        // The run let go of its lock: a session can take it now.
        await using var after = app.OpenConnection();
        Assert.True(await after.ExecuteScalarAsync<bool>("select pg_try_advisory_lock(@key)", new { key = ReconciliationRunner.LockKey }));
        await app.AssertAllAsync();
    }
}
