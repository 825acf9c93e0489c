using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Reconciliation;

public sealed class ExpiredHoldTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task An_expired_hold_is_released_and_the_registration_stays_pending()
    {
        var eventId = await app.CreateEventAsync(capacity: 10);
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        app.Razorpay.OrderPayments(orderId);

        app.Clock.Advance(TimeSpan.FromMinutes(16));
        var run = await app.ReconcileAsync();

        Assert.True(run.Count("orders", "holds_released") >= 1, run.ToString());
        var row = (await app.QueryAsync<(string Status, DateTime? HoldExpiresAt)>(
            "select status, hold_expires_at from event_registrations where id = @registrationId", new { registrationId })).Single();
        Assert.Equal(("pending", (DateTime?)null), row);
        await app.AssertAllAsync();
    }
}
