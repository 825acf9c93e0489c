using System.Text.Json;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Reconciliation;

public sealed class RefundDueTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task A_refund_due_is_requested_once_with_its_idempotency_key_and_the_refund_webhook_completes_it()
    {
        var (eventId, registrationId, paymentId) = await app.RefundDueAsync();
        const string refundId = "rfnd_TRecon0000001";
        app.Razorpay.RefundAccepted(paymentId, refundId, 50_000);

        var run = await app.ReconcileAsync();

        Assert.Equal(1, run.Count("refunds", "requested"));
        var request = Assert.Single(app.Razorpay.Requests($"/v1/payments/{paymentId}/refund", "POST")).RequestMessage!;
        var key = Assert.Single(request.Headers!["X-Refund-Idempotency"]);
        Assert.Matches("^[A-Za-z0-9_-]{10,}$", key);
        Assert.Contains(paymentId, key, StringComparison.Ordinal);
        using (var body = JsonDocument.Parse(request.Body!))
        {
            Assert.Equal("normal", body.RootElement.GetProperty("speed").GetString());
            Assert.Equal(registrationId.ToString(), body.RootElement.GetProperty("notes").GetProperty("registration_id").GetString());
            Assert.False(body.RootElement.TryGetProperty("amount", out _), "a full refund sends no amount");
        }

        var payment = (await app.QueryAsync<(string RefundStatus, string RefundId, int Attempts, DateTime? RequestedAt)>(
            "select refund_status, refund_id, refund_attempts, refund_requested_at from payments where payment_id = @paymentId", new { paymentId })).Single();
        Assert.Equal(("requested", refundId, 1), (payment.RefundStatus, payment.RefundId, payment.Attempts));
        Assert.NotNull(payment.RequestedAt);

        var again = await app.ReconcileAsync();
        Assert.Equal(0, again.Count("refunds", "requested"));
        Assert.Single(app.Razorpay.Requests($"/v1/payments/{paymentId}/refund", "POST"));

        var webhook = await app.WebhookAsync(Webhook.Refund("refund.processed", refundId, paymentId, 50_000));
        Assert.Equal(200, webhook.Status);
        Assert.Equal("refunded", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal("processed", await app.ScalarAsync<string>("select refund_status from payments where payment_id = @paymentId", new { paymentId }));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));

        var after = await app.ReconcileAsync();
        Assert.Equal(0, after.Count("refunds", "requested"));
        Assert.Equal(0, after.Count("audit", "drifting"));
        Assert.Single(app.Razorpay.Requests($"/v1/payments/{paymentId}/refund", "POST"));
        await app.AssertAllAsync();
    }
}
