using System.Text.Json;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;
using EventRegistration.Tests.Tickets;
using Xunit.Abstractions;

namespace EventRegistration.Tests.Admin;

public sealed class CancelEventTests(TestApp app, ITestOutputHelper output) : IClassFixture<TestApp>
{
    private static JsonElement Refunds(HttpAnswer answer) => answer.Json.GetProperty("cancellation").GetProperty("refunds");

    private static (long NotYetDue, long Due, long Requested, long Processed, long Failed) Progress(HttpAnswer answer)
    {
        var r = Refunds(answer);
        return (r.GetProperty("notYetDue").GetInt64(), r.GetProperty("due").GetInt64(), r.GetProperty("requested").GetInt64(),
            r.GetProperty("processed").GetInt64(), r.GetProperty("failed").GetInt64());
    }

    [Fact]
    public async Task Cancelling_refunds_every_paid_registration_through_the_ledger_to_the_end()
    {
        var eventId = await app.CreateEventAsync(capacity: 10);
        var paid = new List<(Guid RegistrationId, string PaymentId)>();
        for (var i = 0; i < 3; i++)
        {
            var (registrationId, _, paymentId) = await app.PaidRegistrationAsync(eventId);
            paid.Add((registrationId, paymentId));
        }

        var (lateRegistration, lateOrder) = await app.OrderAsync(eventId, await app.CreateMemberAsync());

        var answer = await app.CancelEventAsync(eventId, "Venue flooded");

        Assert.Equal(200, answer.Status);
        Assert.Equal("cancelled", answer.Json.GetProperty("status").GetString());
        var cancellation = answer.Json.GetProperty("cancellation");
        Assert.Equal("Venue flooded", cancellation.GetProperty("reason").GetString());
        Assert.StartsWith("key:", cancellation.GetProperty("cancelledBy").GetString());
        Assert.Equal((0L, 3L, 0L, 0L, 0L), Progress(answer));
        // Seats are released only when Razorpay says the money is back.
        Assert.Equal(3, answer.Json.GetProperty("paidSeats").GetInt32());
        var audit = (await app.QueryAsync<(string Actor, string Before, string After)>(
            "select actor, before::text, after::text from admin_audit where entity_id = @id and action = 'event.cancel'", new { id = eventId.ToString() })).Single();
        Assert.Equal("open", JsonDocument.Parse(audit.Before).RootElement.GetProperty("status").GetString());
        Assert.Equal("Venue flooded", JsonDocument.Parse(audit.After).RootElement.GetProperty("reason").GetString());

        // New orders are refused; a payment that still comes for an order made before is recorded and refunded.
        Assert.Equal("urn:eventregistration:problem:event-not-open", (await app.CreateOrderAsync(eventId, await app.CreateMemberAsync())).ProblemType);
        var latePayment = TestApp.NewPaymentId();
        var late = await app.ConfirmAsync(lateOrder, latePayment);
        Assert.Equal(409, late.Status);
        Assert.Equal("urn:eventregistration:problem:event-cancelled", late.ProblemType);
        Assert.Equal(lateRegistration, late.Json.GetProperty("registrationId").GetGuid());
        Assert.Equal(409, (await app.ConfirmAsync(lateOrder, latePayment)).Status);
        Assert.Equal(("event_cancelled", "due"), (await app.QueryAsync<(string, string)>(
            "select disposition, refund_status from payments where payment_id = @latePayment", new { latePayment })).Single());
        Assert.Equal("refund_due", await app.ScalarAsync<string>("select status from event_registrations where id = @lateRegistration", new { lateRegistration }));
        await app.AssertAllAsync();

        // The reconciliation asks Razorpay for each refund once, with the payment's key.
        app.Razorpay.AcceptEveryRefund();
        // (The class's other tests share the database: count this event's requests, not the run's.)
        await app.ReconcileAsync();
        foreach (var paymentId in paid.Select(p => p.PaymentId).Append(latePayment))
        {
            var request = Assert.Single(app.Razorpay.Requests($"/v1/payments/{paymentId}/refund", "POST")).RequestMessage!;
            Assert.Equal("evreg-refund-" + paymentId, Assert.Single(request.Headers!["X-Refund-Idempotency"]));
        }

        Assert.Equal((0L, 0L, 4L, 0L, 0L), Progress(await app.GetEventAsync(eventId.ToString())));

        // Razorpay's webhooks carry each refund to the end: registrations refunded, seats released.
        foreach (var paymentId in paid.Select(p => p.PaymentId).Append(latePayment))
        {
            Assert.Equal(200, (await app.RefundProcessedAsync(paymentId)).Status);
        }

        var done = await app.GetEventAsync(eventId.ToString());
        Assert.Equal((0L, 0L, 0L, 4L, 0L), Progress(done));
        Assert.Equal(0, done.Json.GetProperty("paidSeats").GetInt32());
        Assert.Equal(4, await app.ScalarAsync<long>(
            "select count(*) from event_registrations where event_id = @eventId and status = 'refunded'", new { eventId }));
        Assert.Equal(0, (await app.ReconcileAsync()).Count("refunds", "requested"));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Cancelling_again_answers_the_same_and_changes_nothing()
    {
        var eventId = await app.CreateEventAsync();
        await app.PaidRegistrationAsync(eventId);
        var first = await app.CancelEventAsync(eventId, "Speaker ill");
        var snapshot = await DatabaseSnapshot.TakeAsync(app);

        var second = await app.CancelEventAsync(eventId, "Another reason");

        Assert.Equal(200, second.Status);
        Assert.Equal(first.Body, second.Body);
        Assert.Equal(snapshot, await DatabaseSnapshot.TakeAsync(app));
        Assert.Equal(1, await app.ScalarAsync<long>(
            "select count(*) from admin_audit where entity_id = @id and action = 'event.cancel'", new { id = eventId.ToString() }));
    }

    [Fact]
    public async Task The_reconciliation_finishes_a_cancellation_whose_refunds_were_not_all_made_due()
    {
        var eventId = await app.CreateEventAsync();
        var (_, _, paymentId) = await app.PaidRegistrationAsync(eventId);
        // As if the call stopped right after the event's own transaction committed.
        await app.ExecuteAsync("update events set status = 'cancelled', cancelled_at = now(), cancel_reason = 'cut short' where id = @eventId", new { eventId });
        Assert.Equal((1L, 0L, 0L, 0L, 0L), Progress(await app.GetEventAsync(eventId.ToString())));
        app.Razorpay.AcceptEveryRefund();

        var run = await app.ReconcileAsync();

        Assert.Equal(1, run.Count("refunds", "owed_for_cancelled_events"));
        Assert.Single(app.Razorpay.Requests($"/v1/payments/{paymentId}/refund", "POST"));
        Assert.Equal("requested", await app.ScalarAsync<string>("select refund_status from payments where payment_id = @paymentId", new { paymentId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_part_refund_made_in_the_dashboard_before_the_cancellation_leaves_the_rest_owed()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, _, paymentId) = await app.PaidRegistrationAsync(eventId);
        Assert.Equal(200, (await app.WebhookAsync(Webhook.Refund("refund.processed", "rfnd_TDashPart0001", paymentId, 20_000,
            paymentAmount: 50_000, amountRefunded: 20_000))).Status);

        var answer = await app.CancelEventAsync(eventId);

        Assert.Equal((0L, 1L, 0L, 0L, 0L), Progress(answer));
        Assert.Equal(200, (await app.WebhookAsync(Webhook.Refund("refund.processed", "rfnd_TRest00000001", paymentId, 30_000,
            paymentAmount: 50_000, amountRefunded: 50_000))).Status);
        Assert.Equal("refunded", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_ticket_not_yet_sent_when_its_event_is_cancelled_is_never_sent()
    {
        var ticket = await app.PaidTicketAsync();
        Assert.Equal(200, (await app.CancelEventAsync(ticket.EventId)).Status);

        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Empty(app.WhatsApp.SendAttemptsTo(ticket.Phone));
        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("withheld", delivery.Status);
        Assert.Contains("cancelled", delivery.LastError);
        Assert.DoesNotContain(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_failed");
    }

    public static TheoryData<string, string> InvalidBodies() => new()
    {
        { "{}", "reason" },
        { """{"reason":null}""", "reason" },
        { """{"reason":""}""", "reason" },
        { """{"reason":"   "}""", "reason" },
        { """{"reason":42}""", "reason" },
        { JsonSerializer.Serialize(new { reason = new string('r', 501) }), "reason" },
    };

    [Theory]
    [MemberData(nameof(InvalidBodies))]
    public async Task Each_invalid_field_is_named_and_nothing_is_written(string body, string field)
    {
        var eventId = await app.CreateEventAsync();
        await app.PaidRegistrationAsync(eventId);
        var snapshot = await DatabaseSnapshot.TakeAsync(app);

        var answer = await app.CancelEventAsync(eventId.ToString(), body);

        Assert.Equal(400, answer.Status);
        Assert.Equal("application/problem+json", answer.ContentType);
        Assert.Equal(field, answer.Json.GetProperty("field").GetString());
        Assert.Equal(snapshot, await DatabaseSnapshot.TakeAsync(app));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from admin_audit where action = 'event.cancel' and entity_id = @id", new { id = eventId.ToString() }));
    }

    [Fact]
    public async Task Malformed_json_a_bad_route_id_and_an_unknown_event_are_refused()
    {
        var eventId = await app.CreateEventAsync();
        var snapshot = await DatabaseSnapshot.TakeAsync(app);

        Assert.Equal("urn:eventregistration:problem:malformed-json", (await app.CancelEventAsync(eventId.ToString(), "{")).ProblemType);
        var badId = await app.CancelEventAsync("not-a-uuid", AdminOperatorCalls.ReasonBody());
        Assert.Equal(("eventId", 400), (badId.Json.GetProperty("field").GetString(), badId.Status));
        var unknown = await app.CancelEventAsync(Guid.NewGuid().ToString(), AdminOperatorCalls.ReasonBody());
        Assert.Equal("urn:eventregistration:problem:event-not-found", unknown.ProblemType);
        Assert.Equal(snapshot, await DatabaseSnapshot.TakeAsync(app));
    }

    [Fact]
    public async Task Without_a_key_401_and_with_the_organiser_role_403_and_nothing_changes()
    {
        var eventId = await app.CreateEventAsync();
        await app.PaidRegistrationAsync(eventId);
        var snapshot = await DatabaseSnapshot.TakeAsync(app);

        var anonymous = await app.CancelEventAsync(eventId.ToString(), AdminOperatorCalls.ReasonBody(), key: null);
        var wrongKey = await app.CancelEventAsync(eventId.ToString(), AdminOperatorCalls.ReasonBody(), key: "not-a-key");
        var organiser = await app.CancelEventAsync(eventId.ToString(), AdminOperatorCalls.ReasonBody(), key: AdminKeys.Organiser);

        Assert.Equal((401, "urn:eventregistration:problem:admin-unauthenticated"), (anonymous.Status, anonymous.ProblemType));
        Assert.Equal(401, wrongKey.Status);
        Assert.Equal((403, "urn:eventregistration:problem:admin-forbidden"), (organiser.Status, organiser.ProblemType));
        Assert.Equal(snapshot, await DatabaseSnapshot.TakeAsync(app));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from admin_audit where entity_id = @id", new { id = eventId.ToString() }));
    }

    [Fact]
    public async Task The_event_read_shows_a_cancellation_and_answers_404_and_400()
    {
        var eventId = await app.CreateEventAsync();
        Assert.False((await app.GetEventAsync(eventId.ToString())).Json.TryGetProperty("cancellation", out _));
        await app.CancelEventAsync(eventId);

        var list = await app.ListEventsAsync(AdminKeys.With(AdminKeys.Organiser));
        var shown = list.Json.GetProperty("events").EnumerateArray().Single(e => e.GetProperty("id").GetGuid() == eventId);
        Assert.Equal("Venue flooded", shown.GetProperty("cancellation").GetProperty("reason").GetString());
        Assert.Equal(404, (await app.GetEventAsync(Guid.NewGuid().ToString())).Status);
        Assert.Equal("eventId", (await app.GetEventAsync("x")).Json.GetProperty("field").GetString());
        Assert.Equal(401, (await app.GetEventAsync(eventId.ToString(), key: null)).Status);
        Assert.Equal(409, (await app.UpdateEventAsync(eventId.ToString(), AdminKeys.EventBody())).Status);
    }

    [Fact]
    public async Task Cancelling_while_payments_confirm_ends_each_payment_paid_then_refunded_or_refunded_none_lost()
    {
        var eventId = await app.CreateEventAsync(capacity: 60);
        var orders = new List<(Guid RegistrationId, string OrderId, string PaymentId)>();
        for (var i = 0; i < 40; i++)
        {
            var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
            orders.Add((registrationId, orderId, TestApp.NewPaymentId()));
        }

        // Checkouts and webhooks for the same payments race each other and three cancellations, which
        // start halfway through, so some payments come before the cancellation and some after it.
        var confirmations = new List<Task<HttpAnswer>>();
        var cancels = new List<Task<HttpAnswer>>();
        foreach (var (o, i) in orders.Select((o, i) => (o, i)))
        {
            if (i == orders.Count / 2)
            {
                cancels.AddRange(Enumerable.Range(0, 3).Select(_ => Task.Run(() => app.CancelEventAsync(eventId))));
            }

            confirmations.Add(Task.Run(() => app.ConfirmAsync(o.OrderId, o.PaymentId)));
            confirmations.Add(Task.Run(() => app.WebhookAsync(Webhook.Payment("payment.captured", o.PaymentId, o.OrderId, 50_000, "captured"))));
            await Task.Delay(4);
        }

        var answers = await Task.WhenAll(confirmations);
        var cancelled = await Task.WhenAll(cancels);

        Assert.All(cancelled, c => Assert.Equal(200, c.Status));
        Assert.All(answers, a => Assert.True(a.Status is 200 or 409, a.ToString()));
        var outcome = await app.QueryAsync<(string PaymentId, string Disposition, string RefundStatus, string Status)>("""
            select p.payment_id, p.disposition, p.refund_status, r.status
              from payments p join event_registrations r on r.id = p.registration_id
             where r.event_id = @eventId
            """, new { eventId });
        // Every payment is recorded once, and every one is owed back: paid before the cancellation, or after it.
        Assert.Equal(orders.Select(o => o.PaymentId).Order(), outcome.Select(o => o.PaymentId).Order());
        Assert.All(outcome, o => Assert.True(
            (o.Disposition, o.Status) is ("applied", "paid") or ("event_cancelled", "refund_due"), o.ToString()));
        Assert.All(outcome, o => Assert.Equal("due", o.RefundStatus));
        output.WriteLine($"paid before the cancellation: {outcome.Count(o => o.Disposition == "applied")}, after it: {outcome.Count(o => o.Disposition == "event_cancelled")}");
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from admin_audit where entity_id = @id and action = 'event.cancel'", new { id = eventId.ToString() }));
        await app.AssertAllAsync();

        app.Razorpay.AcceptEveryRefund();
        await app.ReconcileAsync();
        Assert.Equal((0L, 0L, 40L, 0L, 0L), Progress(await app.GetEventAsync(eventId.ToString())));
        await Task.WhenAll(orders.Select(o => Task.Run(async () =>
        {
            // Razorpay delivers at least once: each refund webhook twice, at once.
            var twice = await Task.WhenAll(app.RefundProcessedAsync(o.PaymentId), app.RefundProcessedAsync(o.PaymentId));
            Assert.All(twice, t => Assert.Equal(200, t.Status));
        })));

        var done = await app.GetEventAsync(eventId.ToString());
        Assert.Equal((0L, 0L, 0L, 40L, 0L), Progress(done));
        Assert.Equal(0, done.Json.GetProperty("paidSeats").GetInt32());
        Assert.Equal(40, await app.ScalarAsync<long>(
            "select count(*) from event_registrations where event_id = @eventId and status = 'refunded'", new { eventId }));
        Assert.All(orders, o => Assert.Single(app.Razorpay.Requests($"/v1/payments/{o.PaymentId}/refund", "POST")));
        await app.AssertAllAsync();
    }
}
