using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;
using EventRegistration.Tests.Tickets;

namespace EventRegistration.Tests.Confirmation;

/// <summary>
/// The edges of money: refunds that arrive before the capture or in parts, and amounts that only
/// one of two reports carries. Each ends with the invariants, which include the refund ledger's.
/// </summary>
public sealed class MoneyEdgeTests(TestApp app) : IClassFixture<TestApp>
{
    private const long Price = 50_000;

    private async Task<(Guid EventId, Guid RegistrationId, string OrderId)> PendingOrderAsync(int? capacity = 100)
    {
        var eventId = await app.CreateEventAsync(capacity: capacity, pricePaise: Price);
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        return (eventId, registrationId, orderId);
    }

    private static string NewRefundId() => "rfnd_T" + Guid.NewGuid().ToString("N")[..14];

    private Task<string> RegistrationStatusAsync(Guid registrationId) =>
        app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId });

    private Task<int> AttendeesAsync(Guid eventId) =>
        app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId });

    private async Task<(string Disposition, string? RefundStatus, long AmountRefunded)> PaymentAsync(string paymentId) =>
        (await app.QueryAsync<(string, string?, long)>(
            "select disposition, refund_status, amount_refunded_paise from payments where payment_id = @paymentId", new { paymentId })).Single();

    private Task<long> AnomalyCountAsync(string paymentId, string kind) =>
        app.ScalarAsync<long>("select count(*) from anomalies where payment_id = @paymentId and kind = @kind", new { paymentId, kind });

    [Fact]
    public async Task A_refund_seen_before_its_capture_never_makes_the_registration_paid()
    {
        var (eventId, registrationId, orderId) = await PendingOrderAsync();
        var paymentId = TestApp.NewPaymentId();

        var refund = await app.WebhookAsync(Webhook.Refund("refund.processed", NewRefundId(), paymentId, Price, orderId: orderId));
        Assert.Equal("refund_recorded", refund.Json.GetProperty("outcome").GetString());
        var captured = await app.WebhookAsync(Webhook.Payment("payment.captured", paymentId, orderId, Price, "captured"));
        var replayed = await app.WebhookAsync(Webhook.Payment("order.paid", paymentId, orderId, Price, "captured"));
        var checkout = await app.ConfirmAsync(orderId, paymentId);

        Assert.Equal("payment_refunded", captured.Json.GetProperty("outcome").GetString());
        Assert.Equal("payment_refunded", replayed.Json.GetProperty("outcome").GetString());
        Assert.Equal(409, checkout.Status);
        Assert.EndsWith("payment-refunded", checkout.ProblemType);
        Assert.Equal("pending", await RegistrationStatusAsync(registrationId));
        Assert.Equal(0, await AttendeesAsync(eventId));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from ticket_deliveries where registration_id = @registrationId", new { registrationId }));
        Assert.Equal(("refunded_before_capture", "processed", Price), await PaymentAsync(paymentId));
        Assert.Equal(1, await AnomalyCountAsync(paymentId, "capture_after_refund"));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_capture_reported_after_part_of_it_was_refunded_pays_for_nothing_and_the_rest_is_owed()
    {
        var (eventId, registrationId, orderId) = await PendingOrderAsync();
        var paymentId = TestApp.NewPaymentId();

        await app.WebhookAsync(Webhook.Refund("refund.processed", NewRefundId(), paymentId, Price / 2, paymentAmount: Price, orderId: orderId));
        var captured = await app.WebhookAsync(Webhook.Payment("payment.captured", paymentId, orderId, Price, "captured"));

        Assert.Equal("payment_refunded", captured.Json.GetProperty("outcome").GetString());
        Assert.Equal("pending", await RegistrationStatusAsync(registrationId));
        Assert.Equal(0, await AttendeesAsync(eventId));
        Assert.Equal(("refunded_before_capture", "due", Price / 2), await PaymentAsync(paymentId));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Two_half_refunds_release_the_seat_only_when_the_second_completes_the_amount()
    {
        var (eventId, registrationId, orderId) = await PendingOrderAsync();
        var paymentId = TestApp.NewPaymentId();
        Assert.Equal(200, (await app.ConfirmAsync(orderId, paymentId)).Status);
        var firstHalf = Webhook.Refund("refund.processed", NewRefundId(), paymentId, Price / 2, paymentAmount: Price, amountRefunded: Price / 2);

        var first = await app.WebhookAsync(firstHalf);
        var firstAgain = await app.WebhookAsync(firstHalf);

        Assert.Equal("partial_refund_recorded", first.Json.GetProperty("outcome").GetString());
        Assert.Equal("refund_already_recorded", firstAgain.Json.GetProperty("outcome").GetString());
        Assert.Equal("paid", await RegistrationStatusAsync(registrationId));
        Assert.Equal(1, await AttendeesAsync(eventId));
        Assert.Equal(("applied", "partial", Price / 2), await PaymentAsync(paymentId));
        Assert.Equal(1, await AnomalyCountAsync(paymentId, "partial_refund"));
        await app.AssertAllAsync();

        var second = await app.WebhookAsync(Webhook.Refund("refund.processed", NewRefundId(), paymentId, Price / 2, paymentAmount: Price, amountRefunded: Price));

        Assert.Equal("refunded_seat_released", second.Json.GetProperty("outcome").GetString());
        Assert.Equal("refunded", await RegistrationStatusAsync(registrationId));
        Assert.Equal(0, await AttendeesAsync(eventId));
        Assert.Equal(("applied", "processed", Price), await PaymentAsync(paymentId));
        Assert.Equal(2, await app.ScalarAsync<long>("select count(*) from refunds where payment_id = @paymentId and status = 'processed'", new { paymentId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_part_refund_whose_webhook_never_came_still_counts_through_razorpays_running_total()
    {
        var (eventId, registrationId, orderId) = await PendingOrderAsync();
        var paymentId = TestApp.NewPaymentId();
        await app.ConfirmAsync(orderId, paymentId);

        // The first half's webhook is lost; the second half's payment entity says the whole amount is back.
        var second = await app.WebhookAsync(Webhook.Refund("refund.processed", NewRefundId(), paymentId, Price / 2, paymentAmount: Price, amountRefunded: Price));

        Assert.Equal("refunded_seat_released", second.Json.GetProperty("outcome").GetString());
        Assert.Equal("refunded", await RegistrationStatusAsync(registrationId));
        Assert.Equal(0, await AttendeesAsync(eventId));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_part_refund_of_a_payment_owed_back_leaves_the_rest_owed()
    {
        var (eventId, registrationId, paymentId) = await app.RefundDueAsync();
        Assert.Equal("due", (await PaymentAsync(paymentId)).RefundStatus);

        // Staff refund a part by hand in the Dashboard.
        var part = await app.WebhookAsync(Webhook.Refund("refund.processed", NewRefundId(), paymentId, 10_000, paymentAmount: Price, amountRefunded: 10_000));

        Assert.Equal("partial_refund_recorded", part.Json.GetProperty("outcome").GetString());
        Assert.Equal(("event_full", "due", 10_000L), await PaymentAsync(paymentId));
        Assert.Equal("refund_due", await RegistrationStatusAsync(registrationId));
        await app.AssertAllAsync();

        // The reconciliation asks Razorpay for the remaining balance (no amount: the whole rest).
        app.Razorpay.RefundAccepted(paymentId, "rfnd_TRestOfIt00001", Price - 10_000, status: "processed");
        app.AgeBeyondGrace();
        await app.ReconcileAsync();

        Assert.Equal(("event_full", "processed", Price), await PaymentAsync(paymentId));
        Assert.Equal("refunded", await RegistrationStatusAsync(registrationId));
        Assert.Equal(1, await AttendeesAsync(eventId));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_failed_dashboard_refund_does_not_mark_what_is_owed_as_failed()
    {
        var (_, _, paymentId) = await app.RefundDueAsync();

        var failed = await app.WebhookAsync(Webhook.Refund("refund.failed", NewRefundId(), paymentId, 10_000, status: "failed", paymentAmount: Price, amountRefunded: 0));

        Assert.Equal("refund_failure_noted", failed.Json.GetProperty("outcome").GetString());
        Assert.Equal("due", (await PaymentAsync(paymentId)).RefundStatus);
        Assert.Equal(1, await AnomalyCountAsync(paymentId, "refund_failed"));
        await app.AssertAllAsync();
    }

    /// <summary>The state a payment of the wrong amount leaves, whichever report came first.</summary>
    private async Task<string> MismatchStateAsync(Guid eventId, Guid registrationId, string paymentId) =>
        string.Join(" | ",
            await RegistrationStatusAsync(registrationId),
            await app.ScalarAsync<string>("select refund_reason from event_registrations where id = @registrationId", new { registrationId }),
            await AttendeesAsync(eventId),
            await PaymentAsync(paymentId),
            await AnomalyCountAsync(paymentId, "amount_mismatch"));

    [Fact]
    public async Task A_wrong_amount_is_decided_alike_whichever_report_comes_first()
    {
        // The webhook with the wrong amount first, then the checkout callback (which carries no amount).
        var (eventA, registrationA, orderA) = await PendingOrderAsync();
        var paymentA = TestApp.NewPaymentId();
        var webhookFirst = await app.WebhookAsync(Webhook.Payment("payment.captured", paymentA, orderA, 100, "captured"));
        var checkoutAfter = await app.ConfirmAsync(orderA, paymentA);

        Assert.Equal("amount_mismatch", webhookFirst.Json.GetProperty("outcome").GetString());
        Assert.Equal(409, checkoutAfter.Status);
        Assert.EndsWith("amount-mismatch", checkoutAfter.ProblemType);

        // The checkout callback first (counted on its signature), then the webhook with the wrong amount.
        var (eventB, registrationB, orderB) = await PendingOrderAsync();
        var paymentB = TestApp.NewPaymentId();
        var checkoutFirst = await app.ConfirmAsync(orderB, paymentB);
        var webhookAfter = await app.WebhookAsync(Webhook.Payment("payment.captured", paymentB, orderB, 100, "captured"));
        var checkoutAgain = await app.ConfirmAsync(orderB, paymentB);

        Assert.Equal(200, checkoutFirst.Status);
        Assert.Equal("amount_mismatch", webhookAfter.Json.GetProperty("outcome").GetString());
        Assert.Equal(409, checkoutAgain.Status);

        var stateA = await MismatchStateAsync(eventA, registrationA, paymentA);
        Assert.Equal("refund_due | amount_mismatch | 0 | (amount_mismatch, due, 0) | 1", stateA);
        Assert.Equal(stateA, await MismatchStateAsync(eventB, registrationB, paymentB));
        Assert.Equal(100, await app.ScalarAsync<long>("select amount_paise from payments where payment_id = @paymentB", new { paymentB }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_wrong_amount_after_the_checkout_withdraws_the_ticket()
    {
        var ticket = await app.PaidTicketAsync();
        var (orderId, paymentId) = (await app.QueryAsync<(string, string)>(
            "select order_id, payment_id from event_registrations where id = @RegistrationId", new { ticket.RegistrationId })).Single();

        await app.WebhookAsync(Webhook.Payment("payment.captured", paymentId, orderId, 100, "captured"));
        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Empty(app.WhatsApp.SentTo(ticket.Phone));
        Assert.Equal("withheld", (await app.DeliveryAsync(ticket.RegistrationId)).Status);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_paid_payment_reported_again_under_an_order_nobody_has_stays_applied_to_its_registration()
    {
        var (eventId, registrationId, orderId) = await PendingOrderAsync();
        var paymentId = TestApp.NewPaymentId();
        Assert.Equal(200, (await app.ConfirmAsync(orderId, paymentId)).Status);

        var stray = await app.WebhookAsync(Webhook.Payment("payment.captured", paymentId, "order_TNobodyHasIt01", Price, "captured"));

        Assert.Equal("unknown_order", stray.Json.GetProperty("outcome").GetString());
        Assert.Equal("paid", await RegistrationStatusAsync(registrationId));
        Assert.Equal(1, await AttendeesAsync(eventId));
        Assert.Equal(("applied", (string?)null, 0L), await PaymentAsync(paymentId));
        await app.AssertAllAsync();
    }
}
