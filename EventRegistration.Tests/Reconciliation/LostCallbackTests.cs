using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Reconciliation;

/// <summary>Each class has its own database: a run acts on every row, so one scenario per class.</summary>
public sealed class LostCallbackTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Lost_webhook_and_lost_callback_are_confirmed_once_by_one_run_and_the_ticket_is_queued()
    {
        var eventId = await app.CreateEventAsync(capacity: 10);
        var member = await app.CreateMemberAsync();
        var (registrationId, orderId) = await app.OrderAsync(eventId, member);
        var failedId = TestApp.NewPaymentId();
        var capturedId = TestApp.NewPaymentId();
        // The member's first attempt failed, the second was captured; neither browser nor webhook told us.
        app.Razorpay.OrderPayments(orderId,
            ReconciliationHarness.Payment(failedId, orderId, 50_000, "failed"),
            ReconciliationHarness.Payment(capturedId, orderId, 50_000, "captured"));
        await app.ClearTicketQueueAsync();

        var tooEarly = await app.ReconcileAsync();
        Assert.Equal(0, tooEarly.Count("orders", "checked"));
        Assert.Equal("pending", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));

        app.AgeBeyondGrace();
        var run = await app.ReconcileAsync();

        Assert.Equal("completed", run.Status);
        Assert.Equal(1, run.Count("orders", "checked"));
        Assert.Equal(1, run.Count("orders", "confirmed"));
        Assert.Equal(1, run.Count("orders", "failed_attempts"));
        var registration = (await app.QueryAsync<(string Status, string PaymentId, string ConfirmedBy, int FailedAttempts)>(
            "select status, payment_id, confirmed_by, failed_attempts from event_registrations where id = @registrationId", new { registrationId })).Single();
        Assert.Equal(("paid", capturedId, "reconciliation", 1), registration);
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal("failed_attempt", await app.ScalarAsync<string>("select disposition from payments where payment_id = @failedId", new { failedId }));
        Assert.Equal(1L, await app.ScalarAsync<long>("select count(*) from ticket_deliveries where registration_id = @registrationId and status = 'queued'", new { registrationId }));
        Assert.Equal([registrationId], await app.QueuedTicketsAsync());

        // A later run finds nothing more to do: counted once, queued once.
        var again = await app.ReconcileAsync();
        Assert.Equal(0, again.Count("orders", "checked"));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(1, await app.ScalarAsync<int>("select failed_attempts from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal([registrationId], await app.QueuedTicketsAsync());
        Assert.Single(app.Razorpay.Requests($"/v1/orders/{orderId}/payments", "GET"));
        await app.AssertAllAsync();
    }
}
