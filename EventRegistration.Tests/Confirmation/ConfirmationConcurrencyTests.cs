using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;

namespace EventRegistration.Tests.Confirmation;

public sealed class ConfirmationConcurrencyTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Two_hundred_identical_confirmations_make_one_paid_registration()
    {
        var eventId = await app.CreateEventAsync(capacity: 50);
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paymentId = TestApp.NewPaymentId();
        await app.ClearTicketQueueAsync();

        var answers = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => Task.Run(() => app.ConfirmAsync(orderId, paymentId))));

        Assert.All(answers, a => Assert.Equal(200, a.Status));
        Assert.All(answers, a => Assert.Equal(registrationId, a.Json.GetProperty("registrationId").GetGuid()));
        Assert.All(answers, a => Assert.Equal("paid", a.Json.GetProperty("status").GetString()));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal([registrationId], await app.DrainTicketQueueAsync());
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from payments where payment_id = @paymentId", new { paymentId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Three_hundred_members_racing_for_one_hundred_seats_never_oversell_or_lose_a_payment()
    {
        var eventId = await app.CreateEventAsync(capacity: 100, pricePaise: 10_000);
        var orders = new List<(Guid RegistrationId, string OrderId)>();
        // Orders in three rounds: each round's holds lapse before the next, so 300 orders exist
        // for 100 seats; only the last round still holds its seats when everyone pays.
        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < 100; i++)
            {
                orders.Add(await app.OrderAsync(eventId, await app.CreateMemberAsync()));
            }

            if (round < 2)
            {
                app.Clock.Advance(TimeSpan.FromMinutes(16));
            }
        }

        var payments = orders.Select(o => (o.RegistrationId, o.OrderId, PaymentId: TestApp.NewPaymentId())).ToList();
        var answers = await Task.WhenAll(payments.Select((p, i) => Task.Run(async () => i % 2 == 0
            ? await app.ConfirmAsync(p.OrderId, p.PaymentId)
            : await app.WebhookAsync(Webhook.Payment("payment.captured", p.PaymentId, p.OrderId, 10_000, "captured")))));

        Assert.All(answers, a => Assert.Equal(200, a.Status));
        Assert.Equal(100, await app.ScalarAsync<long>("select count(*) from event_registrations where event_id = @eventId and status = 'paid'", new { eventId }));
        Assert.Equal(200, await app.ScalarAsync<long>("select count(*) from event_registrations where event_id = @eventId and status = 'refund_due'", new { eventId }));
        Assert.Equal(100, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));

        // Every payment id Razorpay reported is recorded, with what became of it.
        var recorded = await app.QueryAsync<(string PaymentId, string Disposition, string? RefundStatus)>(
            "select payment_id, disposition, refund_status from payments");
        foreach (var (_, _, paymentId) in payments)
        {
            var row = Assert.Single(recorded, r => r.PaymentId == paymentId);
            Assert.True(row.Disposition == "applied" || (row.Disposition == "event_full" && row.RefundStatus == "due"), row.ToString());
        }

        // The seats went to the members whose holds were live.
        var paidFromLastRound = await app.ScalarAsync<long>(
            "select count(*) from event_registrations where id = any(@ids) and status = 'paid'", new { ids = orders.Skip(200).Select(o => o.RegistrationId).ToArray() });
        Assert.Equal(100, paidFromLastRound);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Checkout_callback_and_webhook_racing_for_one_payment_confirm_once()
    {
        var eventId = await app.CreateEventAsync();
        await app.ClearTicketQueueAsync();
        for (var i = 0; i < 20; i++)
        {
            var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
            var paymentId = TestApp.NewPaymentId();
            var webhook = Webhook.Payment(i % 2 == 0 ? "payment.captured" : "order.paid", paymentId, orderId, 50_000, "captured");

            var answers = await Task.WhenAll(
                Task.Run(() => app.ConfirmAsync(orderId, paymentId)),
                Task.Run(() => app.WebhookAsync(webhook)),
                Task.Run(() => app.ConfirmAsync(orderId, paymentId)),
                Task.Run(() => app.WebhookAsync(webhook)));

            Assert.All(answers, a => Assert.Equal(200, a.Status));
            Assert.Equal([registrationId], await app.DrainTicketQueueAsync());
        }

        Assert.Equal(20, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task One_payment_id_presented_for_two_orders_is_applied_to_one()
    {
        var eventId = await app.CreateEventAsync();
        var otherEventId = await app.CreateEventAsync();
        var (firstRegistration, firstOrder) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var (secondRegistration, secondOrder) = await app.OrderAsync(otherEventId, await app.CreateMemberAsync());
        var paymentId = TestApp.NewPaymentId();
        await app.ClearTicketQueueAsync();

        var answers = await Task.WhenAll(
            Task.Run(() => app.ConfirmAsync(firstOrder, paymentId)),
            Task.Run(() => app.ConfirmAsync(secondOrder, paymentId)));

        Assert.Single(answers, a => a.Status == 200);
        var refused = Assert.Single(answers, a => a.Status == 409);
        Assert.Equal("urn:eventregistration:problem:payment-already-used", refused.ProblemType);
        var statuses = await app.QueryAsync<string>(
            "select status from event_registrations where id in (@firstRegistration, @secondRegistration) order by status", new { firstRegistration, secondRegistration });
        Assert.Equal(["paid", "pending"], statuses);
        Assert.Equal(1, await app.ScalarAsync<long>("select sum(attendee_count) from events where id in (@eventId, @otherEventId)", new { eventId, otherEventId }));
        var ticket = Assert.Single(await app.DrainTicketQueueAsync());
        Assert.Contains(ticket, new[] { firstRegistration, secondRegistration });
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_second_payment_by_a_member_who_paid_is_recorded_for_refund()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var first = TestApp.NewPaymentId();
        var second = TestApp.NewPaymentId();
        Assert.Equal(200, (await app.ConfirmAsync(orderId, first)).Status);

        var duplicate = await app.ConfirmAsync(orderId, second);
        var replay = await app.ConfirmAsync(orderId, second);

        Assert.Equal(409, duplicate.Status);
        Assert.Equal("urn:eventregistration:problem:member-already-paid", duplicate.ProblemType);
        Assert.Equal(duplicate.Status, replay.Status);
        Assert.Equal(first, await app.ScalarAsync<string>("select payment_id from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal("due", await app.ScalarAsync<string>("select refund_status from payments where payment_id = @second", new { second }));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_replayed_confirmation_answers_the_same_status_and_registration()
    {
        var eventId = await app.CreateEventAsync();
        var (_, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paymentId = TestApp.NewPaymentId();

        var first = await app.ConfirmAsync(orderId, paymentId);
        var second = await app.ConfirmAsync(orderId, paymentId);

        Assert.Equal(first.Status, second.Status);
        Assert.Equal(first.Body, second.Body);
    }

    [Fact]
    public async Task A_late_payment_after_the_hold_lapsed_counts_when_a_seat_is_free()
    {
        var eventId = await app.CreateEventAsync(capacity: 1);
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        app.Clock.Advance(TimeSpan.FromMinutes(20));

        var answer = await app.ConfirmAsync(orderId, TestApp.NewPaymentId());

        Assert.Equal(200, answer.Status);
        Assert.Equal("paid", answer.Json.GetProperty("status").GetString());
        Assert.Equal(registrationId, answer.Json.GetProperty("registrationId").GetGuid());
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_confirmed_payment_puts_its_ticket_on_the_queue_once()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paymentId = TestApp.NewPaymentId();

        await app.ConfirmAsync(orderId, paymentId);
        await app.ConfirmAsync(orderId, paymentId);

        var queue = app.TicketQueueClient();
        var messages = (await queue.PeekMessagesAsync(32)).Value;
        var mine = messages.Where(m => TestApp.ParseQueueMessage(m.Body.ToString())?.RegistrationId == registrationId).ToList();
        Assert.Single(mine);
        Assert.Equal("queued", await app.ScalarAsync<string>("select status from ticket_deliveries where registration_id = @registrationId", new { registrationId }));
    }
}
