using System.Text;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Webhooks;

public sealed class RazorpayWebhookTests(TestApp app) : IClassFixture<TestApp>
{
    private async Task<(Guid EventId, Guid RegistrationId, string OrderId)> PendingOrderAsync(int? capacity = 100)
    {
        var eventId = await app.CreateEventAsync(capacity: capacity);
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        return (eventId, registrationId, orderId);
    }

    [Fact]
    public async Task The_same_webhook_delivered_twenty_times_is_applied_once()
    {
        var (eventId, registrationId, orderId) = await PendingOrderAsync();
        var paymentId = TestApp.NewPaymentId();
        var body = Webhook.Payment("payment.captured", paymentId, orderId, 50_000, "captured");
        const string eventId1 = "evt_TwentyTimes001";

        var concurrent = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Task.Run(() => app.WebhookAsync(body, eventId1))));
        var sequential = new List<HttpAnswer>();
        for (var i = 0; i < 10; i++)
        {
            sequential.Add(await app.WebhookAsync(body, eventId1));
        }

        Assert.All(concurrent.Concat(sequential), a => Assert.Equal(200, a.Status));
        Assert.All(sequential, a => Assert.Equal("duplicate", a.Json.GetProperty("status").GetString()));
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from webhook_inbox where event_id = @eventId1", new { eventId1 }));
        Assert.Equal(20, await app.ScalarAsync<int>("select delivery_count from webhook_inbox where event_id = @eventId1", new { eventId1 }));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from ticket_deliveries where registration_id = @registrationId", new { registrationId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_failure_after_a_capture_leaves_the_registration_paid()
    {
        var (_, registrationId, orderId) = await PendingOrderAsync();
        var paymentId = TestApp.NewPaymentId();

        Assert.Equal(200, (await app.WebhookAsync(Webhook.Payment("payment.captured", paymentId, orderId, 50_000, "captured"))).Status);
        var failed = await app.WebhookAsync(Webhook.Payment("payment.failed", paymentId, orderId, 50_000, "failed", errorCode: "BAD_REQUEST_ERROR"));

        Assert.Equal(200, failed.Status);
        Assert.Equal("paid", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal("captured", await app.ScalarAsync<string>("select status from payments where payment_id = @paymentId", new { paymentId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_capture_before_its_authorization_confirms_and_the_authorization_changes_nothing()
    {
        var (eventId, registrationId, orderId) = await PendingOrderAsync();
        var paymentId = TestApp.NewPaymentId();

        await app.WebhookAsync(Webhook.Payment("payment.captured", paymentId, orderId, 50_000, "captured"));
        var authorized = await app.WebhookAsync(Webhook.Payment("payment.authorized", paymentId, orderId, 50_000, "authorized"));

        Assert.Equal(200, authorized.Status);
        Assert.Equal("paid", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
    }

    [Fact]
    public async Task A_late_upi_capture_after_a_failure_confirms()
    {
        var (_, registrationId, orderId) = await PendingOrderAsync();
        var paymentId = TestApp.NewPaymentId();

        await app.WebhookAsync(Webhook.Payment("payment.failed", paymentId, orderId, 50_000, "failed", errorCode: "GATEWAY_ERROR"));
        Assert.Equal("pending", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal(1, await app.ScalarAsync<int>("select failed_attempts from event_registrations where id = @registrationId", new { registrationId }));

        await app.WebhookAsync(Webhook.Payment("payment.captured", paymentId, orderId, 50_000, "captured"));

        Assert.Equal("paid", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal("applied", await app.ScalarAsync<string>("select disposition from payments where payment_id = @paymentId", new { paymentId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_failed_attempt_delivered_twice_is_counted_once()
    {
        var (_, registrationId, orderId) = await PendingOrderAsync();
        var paymentId = TestApp.NewPaymentId();
        var body = Webhook.Payment("payment.failed", paymentId, orderId, 50_000, "failed", errorCode: "BAD_REQUEST_ERROR");

        await app.WebhookAsync(body, "evt_FailOnce0001");
        await app.WebhookAsync(body, "evt_FailOnce0002");

        Assert.Equal(1, await app.ScalarAsync<int>("select failed_attempts from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal("pending", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Notes_as_an_empty_array_or_an_object_are_both_read(bool emptyNotes)
    {
        var (_, registrationId, orderId) = await PendingOrderAsync();
        var answer = await app.WebhookAsync(Webhook.Payment("payment.captured", TestApp.NewPaymentId(), orderId, 50_000, "captured", emptyNotes: emptyNotes));

        Assert.Equal(200, answer.Status);
        Assert.Equal("paid", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
    }

    [Fact]
    public async Task A_webhook_signed_with_the_previous_secret_is_accepted_during_rotation()
    {
        var (_, registrationId, orderId) = await PendingOrderAsync();
        var answer = await app.WebhookAsync(Webhook.Payment("payment.captured", TestApp.NewPaymentId(), orderId, 50_000, "captured"),
            secret: FakeRazorpay.PreviousWebhookSecret);

        Assert.Equal(200, answer.Status);
        Assert.Equal("paid", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
    }

    [Fact]
    public async Task A_processed_refund_releases_the_seat_once()
    {
        var (eventId, registrationId, orderId) = await PendingOrderAsync();
        var paymentId = TestApp.NewPaymentId();
        await app.ConfirmAsync(orderId, paymentId);
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        var refund = Webhook.Refund("refund.processed", "rfnd_T0000000001", paymentId, 50_000);

        await app.WebhookAsync(refund, "evt_Refund000001");
        await app.WebhookAsync(refund, "evt_Refund000002");

        Assert.Equal("refunded", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal(0, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal("processed", await app.ScalarAsync<string>("select refund_status from payments where payment_id = @paymentId", new { paymentId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_payment_for_a_full_event_becomes_refund_due_and_its_refund_completes_it()
    {
        var (eventId, registrationId, orderId) = await PendingOrderAsync(capacity: 1);
        app.Clock.Advance(TimeSpan.FromMinutes(16));
        var (_, winnerOrder) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        await app.ConfirmAsync(winnerOrder, TestApp.NewPaymentId());
        var paymentId = TestApp.NewPaymentId();

        var late = await app.WebhookAsync(Webhook.Payment("payment.captured", paymentId, orderId, 50_000, "captured"));
        Assert.Equal("refund_due", late.Json.GetProperty("outcome").GetString());
        Assert.Equal("refund_due", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));

        await app.WebhookAsync(Webhook.Refund("refund.processed", "rfnd_T0000000002", paymentId, 50_000));

        Assert.Equal("refunded", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_payment_with_the_wrong_amount_is_not_counted_and_is_refunded_with_an_operator_told()
    {
        var (eventId, registrationId, orderId) = await PendingOrderAsync();
        var paymentId = TestApp.NewPaymentId();

        var answer = await app.WebhookAsync(Webhook.Payment("payment.captured", paymentId, orderId, 100, "captured"));

        Assert.Equal(200, answer.Status);
        Assert.Equal("amount_mismatch", answer.Json.GetProperty("outcome").GetString());
        Assert.Equal("refund_due", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal("due", await app.ScalarAsync<string>("select refund_status from payments where payment_id = @paymentId", new { paymentId }));
        Assert.Equal(0, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from anomalies where payment_id = @paymentId and kind = 'amount_mismatch'", new { paymentId }));
    }

    [Fact]
    public async Task A_payment_for_an_unknown_order_is_recorded_and_acknowledged()
    {
        var paymentId = TestApp.NewPaymentId();
        var answer = await app.WebhookAsync(Webhook.Payment("payment.captured", paymentId, "order_TNoSuchOrder01", 50_000, "captured"));

        Assert.Equal(200, answer.Status);
        Assert.Equal("unknown_order", await app.ScalarAsync<string>("select disposition from payments where payment_id = @paymentId", new { paymentId }));
    }

    [Fact]
    public async Task Unknown_event_types_are_stored_and_acknowledged()
    {
        const string body = """{"entity":"event","event":"settlement.processed","contains":[],"payload":{},"created_at":1}""";
        var answer = await app.WebhookAsync(body, "evt_Settlement001");

        Assert.Equal(200, answer.Status);
        Assert.Equal("ignored", answer.Json.GetProperty("outcome").GetString());
        Assert.Equal(Encoding.UTF8.GetBytes(body), await app.ScalarAsync<byte[]>("select body from webhook_inbox where event_id = 'evt_Settlement001'"));
    }

    [Fact]
    public async Task The_stored_body_is_the_raw_body_byte_for_byte()
    {
        var (_, _, orderId) = await PendingOrderAsync();
        var body = Webhook.Payment("payment.authorized", TestApp.NewPaymentId(), orderId, 50_000, "authorized").Replace(",", ", ");
        await app.WebhookAsync(body, "evt_RawBody00001");

        var stored = await app.ScalarAsync<byte[]>("select body from webhook_inbox where event_id = 'evt_RawBody00001'");
        Assert.Equal(Encoding.UTF8.GetBytes(body), stored);
    }
}
