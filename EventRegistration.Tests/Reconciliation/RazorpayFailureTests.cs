using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Reconciliation;

public sealed class RazorpayFailureTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Razorpay_answering_429_and_500_lets_the_run_finish_what_it_can_and_the_next_run_picks_up_the_rest()
    {
        var (_, refundRegistration, refundPaymentId) = await app.RefundDueAsync();
        var eventId = await app.CreateEventAsync(capacity: 10);
        var orders = new List<(Guid RegistrationId, string OrderId, string PaymentId)>();
        for (var i = 0; i < 4; i++)
        {
            var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
            orders.Add((registrationId, orderId, TestApp.NewPaymentId()));
        }

        void AnswerAllOrders()
        {
            foreach (var (_, orderId, paymentId) in orders)
            {
                app.Razorpay.OrderPayments(orderId, ReconciliationHarness.Payment(paymentId, orderId, 50_000, "captured"));
            }
        }

        // Oldest first: the first order's lookup fails with 500, the second works, the third is rate-limited.
        AnswerAllOrders();
        app.Razorpay.Fail($"/v1/orders/{orders[0].OrderId}/payments", 500);
        app.Razorpay.Fail($"/v1/orders/{orders[2].OrderId}/payments", 429);
        app.Razorpay.Fail($"/v1/payments/{refundPaymentId}/refund", 500, "POST");
        app.AgeBeyondGrace();

        var run = await app.ReconcileAsync();

        Assert.Equal("completed_with_errors", run.Status);
        Assert.Equal(1, run.Count("orders", "confirmed"));
        Assert.Equal(2, run.Count("orders", "errors"));
        Assert.Equal(2, run.Count("orders", "deferred"));
        Assert.Equal(1, run.Count("refunds", "errors"));
        Assert.Equal(0, run.Count("audit", "errors"));
        Assert.Equal(Statuses("pending", "paid", "pending", "pending"), await StatusesAsync());
        // GETs are retried by the pipeline (1 + 2 retries); the refund POST is not.
        Assert.Equal(3, app.Razorpay.Requests($"/v1/orders/{orders[0].OrderId}/payments", "GET").Count);
        Assert.Equal(3, app.Razorpay.Requests($"/v1/orders/{orders[2].OrderId}/payments", "GET").Count);
        Assert.Empty(app.Razorpay.Requests($"/v1/orders/{orders[3].OrderId}/payments", "GET"));
        Assert.Single(app.Razorpay.Requests($"/v1/payments/{refundPaymentId}/refund", "POST"));
        Assert.Equal("due", await app.ScalarAsync<string>("select refund_status from payments where payment_id = @refundPaymentId", new { refundPaymentId }));
        Assert.Contains("500", await app.ScalarAsync<string>("select refund_last_error from payments where payment_id = @refundPaymentId", new { refundPaymentId }));

        app.Razorpay.Reset();
        AnswerAllOrders();
        app.Razorpay.RefundAccepted(refundPaymentId, "rfnd_TFailures0001", 50_000);
        var next = await app.ReconcileAsync();

        Assert.Equal("completed", next.Status);
        Assert.Equal(3, next.Count("orders", "confirmed"));
        Assert.Equal(1, next.Count("refunds", "requested"));
        Assert.Equal(Statuses("paid", "paid", "paid", "paid"), await StatusesAsync());
        Assert.Equal(4, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal("requested", await app.ScalarAsync<string>("select refund_status from payments where payment_id = @refundPaymentId", new { refundPaymentId }));
        Assert.Equal("refund_due", await app.ScalarAsync<string>("select status from event_registrations where id = @refundRegistration", new { refundRegistration }));
        await app.AssertAllAsync();

        async Task<string> StatusesAsync()
        {
            var statuses = new List<string>();
            foreach (var (registrationId, _, _) in orders)
            {
                statuses.Add(await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
            }

            return string.Join(",", statuses);
        }
    }

    private static string Statuses(params string[] statuses) => string.Join(",", statuses);
}
