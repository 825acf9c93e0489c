using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Orders;

/// <summary>
/// A member whose payment was refunded in whole (the event was full, or any other refund) may buy
/// again: a new registration with its own order, hold and ticket; the refunded one stays as history
/// with its payment. A late capture of the OLD order is a payment for a registration that is no
/// longer current: recorded, refunded, never counted.
/// </summary>
public sealed class ReorderAfterRefundTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task A_member_refunded_because_the_event_was_full_can_order_again_once_a_seat_frees_up()
    {
        // A's hold lapses, B takes the last seat and pays, A's late payment is refunded.
        var eventId = await app.CreateEventAsync(capacity: 1);
        var memberA = await app.CreateMemberAsync();
        var (oldRegistration, oldOrder) = await app.OrderAsync(eventId, memberA);
        app.Clock.Advance(TimeSpan.FromMinutes(16));
        var (_, orderB) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paymentB = TestApp.NewPaymentId();
        Assert.Equal(200, (await app.ConfirmAsync(orderB, paymentB)).Status);
        var oldPayment = TestApp.NewPaymentId();
        Assert.Equal("refund_due", (await app.ConfirmAsync(oldOrder, oldPayment)).Json.GetProperty("status").GetString());

        // While A's money is still on its way back, A holds a registration: no second purchase yet.
        var tooEarly = await app.CreateOrderAsync(eventId, memberA);
        Assert.Equal(409, tooEarly.Status);
        Assert.Equal("urn:eventregistration:problem:already-registered", tooEarly.ProblemType);

        Assert.Equal(200, (await app.WebhookAsync(Webhook.Refund("refund.processed", "rfnd_TReorderA0001", oldPayment, 50_000))).Status);
        Assert.Equal("refunded", await RegistrationStatusAsync(oldRegistration));

        // B is refunded too: the seat is free again.
        Assert.Equal(200, (await app.WebhookAsync(Webhook.Refund("refund.processed", "rfnd_TReorderB0001", paymentB, 50_000))).Status);
        Assert.Equal(0, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));

        var again = await app.CreateOrderAsync(eventId, memberA);

        Assert.True(again.Status == 201, again.ToString());
        var newRegistration = again.Json.GetProperty("registrationId").GetGuid();
        var newOrder = again.Json.GetProperty("orderId").GetString()!;
        Assert.NotEqual(oldRegistration, newRegistration);
        Assert.NotEqual(oldOrder, newOrder);
        Assert.Equal("refunded", await RegistrationStatusAsync(oldRegistration));
        Assert.Equal(oldPayment, await app.ScalarAsync<string>("select payment_id from event_registrations where id = @oldRegistration", new { oldRegistration }));
        Assert.Equal(oldRegistration, await app.ScalarAsync<Guid>("select registration_id from payments where payment_id = @oldPayment", new { oldPayment }));

        var newPayment = TestApp.NewPaymentId();
        var paid = await app.ConfirmAsync(newOrder, newPayment);
        Assert.Equal(200, paid.Status);
        Assert.Equal("paid", paid.Json.GetProperty("status").GetString());
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));

        // Another payment captured late on the OLD order: recorded against the old registration, refund due, not counted.
        var latePayment = TestApp.NewPaymentId();
        var late = await app.WebhookAsync(Webhook.Payment("payment.captured", latePayment, oldOrder, 50_000, "captured"));
        Assert.Equal(200, late.Status);
        var recorded = await app.QueryAsync<(Guid? RegistrationId, string Disposition, string? RefundStatus)>(
            "select registration_id, disposition, refund_status from payments where payment_id = @latePayment", new { latePayment });
        Assert.Equal((oldRegistration, "duplicate", "due"), Assert.Single(recorded));
        Assert.Equal("paid", await RegistrationStatusAsync(newRegistration));
        Assert.Equal("refunded", await RegistrationStatusAsync(oldRegistration));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));

        // Still one live registration per member and event; the paid one alone holds a ticket.
        Assert.Equal(1L, await app.ScalarAsync<long>(
            "select count(*) from event_registrations where event_id = @eventId and member_id = @memberA and status <> 'refunded'", new { eventId, memberA }));
        Assert.Equal(newRegistration, await app.ScalarAsync<Guid>(
            "select d.registration_id from ticket_deliveries d join event_registrations r on r.id = d.registration_id where r.event_id = @eventId and r.member_id = @memberA",
            new { eventId, memberA }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_member_who_paid_and_was_refunded_for_another_reason_can_buy_again_and_gets_a_new_ticket()
    {
        var eventId = await app.CreateEventAsync(capacity: 10);
        var memberId = await app.CreateMemberAsync();
        var (oldRegistration, oldOrder) = await app.OrderAsync(eventId, memberId);
        var oldPayment = TestApp.NewPaymentId();
        Assert.Equal(200, (await app.ConfirmAsync(oldOrder, oldPayment)).Status);
        Assert.Equal(200, (await app.WebhookAsync(Webhook.Refund("refund.processed", "rfnd_TReorderOwn01", oldPayment, 50_000))).Status);
        Assert.Equal("refunded", await RegistrationStatusAsync(oldRegistration));

        var (newRegistration, newOrder) = await app.OrderAsync(eventId, memberId);
        Assert.Equal(200, (await app.ConfirmAsync(newOrder, TestApp.NewPaymentId())).Status);

        Assert.NotEqual(oldRegistration, newRegistration);
        Assert.Equal("paid", await RegistrationStatusAsync(newRegistration));
        // The new purchase has its own delivery: the refunded registration's (sent or not) is not reused.
        Assert.Equal("queued", await app.ScalarAsync<string>("select status from ticket_deliveries where registration_id = @newRegistration", new { newRegistration }));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        await app.AssertAllAsync();
    }

    private Task<string> RegistrationStatusAsync(Guid id) =>
        app.ScalarAsync<string>("select status from event_registrations where id = @id", new { id });
}
