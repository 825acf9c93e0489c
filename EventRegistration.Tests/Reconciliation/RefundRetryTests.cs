using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Reconciliation;

public sealed class RefundRetryTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task A_409_leaves_the_refund_due_and_the_next_run_repeats_the_same_request_then_a_late_check_completes_it()
    {
        var (eventId, registrationId, paymentId) = await app.RefundDueAsync();
        var path = $"/v1/payments/{paymentId}/refund";
        app.Razorpay.Fail(path, 409, "POST");

        var first = await app.ReconcileAsync();
        Assert.Equal(1, first.Count("refunds", "in_progress"));
        Assert.Equal("due", await app.ScalarAsync<string>("select refund_status from payments where payment_id = @paymentId", new { paymentId }));
        var refused = Assert.Single(app.Razorpay.Requests(path, "POST")).RequestMessage!;
        var (firstKey, firstBody) = (Assert.Single(refused.Headers!["X-Refund-Idempotency"]), refused.Body);

        app.Razorpay.Reset();
        const string refundId = "rfnd_TRecon0000409";
        app.Razorpay.RefundAccepted(paymentId, refundId, 50_000);
        var second = await app.ReconcileAsync();
        Assert.Equal(1, second.Count("refunds", "requested"));

        // The repeat is the same request: same key, same body.
        var accepted = Assert.Single(app.Razorpay.Requests(path, "POST")).RequestMessage!;
        Assert.Equal(firstKey, Assert.Single(accepted.Headers!["X-Refund-Idempotency"]));
        Assert.Equal(firstBody, accepted.Body);
        Assert.Equal(2, await app.ScalarAsync<int>("select refund_attempts from payments where payment_id = @paymentId", new { paymentId }));

        // No refund.processed webhook arrives; an hour later the run looks the refund up and completes it.
        app.Razorpay.RefundState(paymentId, refundId, 50_000, "processed");
        app.Clock.Advance(TimeSpan.FromMinutes(61));
        var late = await app.ReconcileAsync();
        Assert.Equal(1, late.Count("refunds", "completed"));
        Assert.Equal("refunded", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Single(app.Razorpay.Requests(path, "POST"));
        await app.AssertAllAsync();
    }
}
