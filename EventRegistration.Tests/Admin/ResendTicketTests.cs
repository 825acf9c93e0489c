using System.Text.Json;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;
using EventRegistration.Tests.Tickets;
using EventRegistration.Tests.WhatsAppWebhooks;

namespace EventRegistration.Tests.Admin;

public sealed class ResendTicketTests(TestApp app) : IClassFixture<TestApp>
{
    private async Task<PaidTicket> SentTicketAsync()
    {
        var ticket = await app.PaidTicketAsync();
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Equal("sent", (await app.DeliveryAsync(ticket.RegistrationId)).Status);
        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        // A resend is a second message to the same member: WhatsApp's pair rate spaces it from the first.
        app.Clock.Advance(WhatsAppSendPace.PairSpacing);
        return ticket;
    }

    private Task<long> ResendRowsAsync(Guid registrationId) =>
        app.ScalarAsync<long>("select count(*) from ticket_resends where registration_id = @registrationId", new { registrationId });

    private Task<long> ResendAuditsAsync(Guid registrationId) =>
        app.ScalarAsync<long>("select count(*) from admin_audit where entity_id = @id and action = 'ticket.resend'", new { id = registrationId.ToString() });

    [Fact]
    public async Task A_sent_ticket_is_sent_again_once_through_the_queue_and_the_lookup_shows_who_and_why()
    {
        var ticket = await SentTicketAsync();
        var firstWamid = (await app.DeliveryAsync(ticket.RegistrationId)).Wamid;

        var answer = await app.ResendTicketAsync(ticket.RegistrationId, "req-0001", "Member deleted the chat");

        Assert.Equal(202, answer.Status);
        Assert.Equal(("sent", firstWamid, "queued", "req-0001"), (answer.Json.GetProperty("previousStatus").GetString(),
            answer.Json.GetProperty("previousWamid").GetString(), answer.Json.GetProperty("deliveryStatus").GetString(),
            answer.Json.GetProperty("requestKey").GetString()));
        var reopened = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal(("queued", 0), (reopened.Status, reopened.Attempts));

        var message = await app.TakeQueueMessageAsync(ticket.RegistrationId);
        await app.DeliverAsync(message);

        var sent = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("sent", sent.Status);
        Assert.NotEqual(firstWamid, sent.Wamid);
        Assert.Equal(2, app.WhatsApp.SentTo(ticket.Phone).Count);

        // The same request again: the same resend, nothing written, nothing sent.
        var again = await app.ResendTicketAsync(ticket.RegistrationId, "req-0001", "Member deleted the chat");
        Assert.Equal(202, again.Status);
        Assert.Equal(answer.Json.GetProperty("resendId").GetInt64(), again.Json.GetProperty("resendId").GetInt64());
        Assert.Equal("sent", again.Json.GetProperty("deliveryStatus").GetString());
        await app.DeliverAsync(message);
        Assert.Equal(2, app.WhatsApp.SentTo(ticket.Phone).Count);
        Assert.Equal((1L, 1L), (await ResendRowsAsync(ticket.RegistrationId), await ResendAuditsAsync(ticket.RegistrationId)));

        var history = (await app.LookupAsync(ticket.RegistrationId)).Json.GetProperty("history").EnumerateArray().ToList();
        var resend = history.Single(h => h.GetProperty("what").GetString() == "ticket_resend").GetProperty("detail");
        Assert.StartsWith("key:", resend.GetProperty("actor").GetString());
        Assert.Equal("Member deleted the chat", resend.GetProperty("change").GetProperty("reason").GetString());
        Assert.Equal("req-0001", resend.GetProperty("change").GetProperty("requestKey").GetString());
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Late_receipts_for_the_replaced_message_are_kept_with_its_ticket_and_raise_no_unknown_message_anomaly()
    {
        var ticket = await SentTicketAsync();
        var firstWamid = (await app.DeliveryAsync(ticket.RegistrationId)).Wamid!;
        Assert.Equal(202, (await app.ResendTicketAsync(ticket.RegistrationId, "req-late-receipts", "Member deleted the chat")).Status);
        await app.DeliverAsync(await app.TakeQueueMessageAsync(ticket.RegistrationId));
        var resent = await app.DeliveryAsync(ticket.RegistrationId);

        var at = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var answer = await app.WhatsAppStatusesAsync(WhatsAppWebhookApi.Body(
            new MetaStatus(firstWamid, "delivered", at), new MetaStatus(firstWamid, "read", at + 1)));

        Assert.Equal(200, answer.Status);
        Assert.Equal(0L, await app.ScalarAsync<long>(
            "select count(*) from anomalies where kind = 'whatsapp_status_unknown_message'"));
        Assert.Equal(2L, await app.ScalarAsync<long>(
            "select count(*) from whatsapp_statuses where wamid = @firstWamid and registration_id = @id", new { firstWamid, id = ticket.RegistrationId }));
        // The replaced message's receipts say nothing about the new one.
        var now = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal((resent.Status, resent.Wamid), (now.Status, now.Wamid));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task The_same_resend_sent_twice_at_once_sends_exactly_one_whatsapp_message()
    {
        var ticket = await SentTicketAsync();

        var answers = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
            app.ResendTicketAsync(ticket.RegistrationId, "double-click-7", "Member asked twice"))));

        Assert.All(answers, a => Assert.Equal(202, a.Status));
        Assert.Single(answers.Select(a => a.Json.GetProperty("resendId").GetInt64()).Distinct());
        // Whatever reached the queue, delivered three times over, at once.
        var messages = new List<string>();
        while (messages.Count < 4)
        {
            try
            {
                messages.Add(await app.TakeQueueMessageAsync(ticket.RegistrationId));
            }
            catch (Xunit.Sdk.XunitException)
            {
                break;
            }
        }

        Assert.NotEmpty(messages);
        await Task.WhenAll(messages.SelectMany(m => Enumerable.Range(0, 3).Select(_ => Task.Run(() => app.DeliverAsync(m)))));

        Assert.Equal("sent", (await app.DeliveryAsync(ticket.RegistrationId)).Status);
        Assert.Equal(2, app.WhatsApp.SentTo(ticket.Phone).Count);
        Assert.Equal((1L, 1L), (await ResendRowsAsync(ticket.RegistrationId), await ResendAuditsAsync(ticket.RegistrationId)));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Two_different_requests_at_once_make_one_resend_and_the_other_is_told_a_delivery_is_under_way()
    {
        var ticket = await SentTicketAsync();

        var answers = await Task.WhenAll(
            Task.Run(() => app.ResendTicketAsync(ticket.RegistrationId, "operator-a", "first")),
            Task.Run(() => app.ResendTicketAsync(ticket.RegistrationId, "operator-b", "second")));

        Assert.Equal([202, 409], answers.Select(a => a.Status).Order());
        Assert.Equal("urn:eventregistration:problem:ticket-not-resendable", answers.Single(a => a.Status == 409).ProblemType);
        await app.DeliverAsync(await app.TakeQueueMessageAsync(ticket.RegistrationId));
        Assert.Equal(2, app.WhatsApp.SentTo(ticket.Phone).Count);
        Assert.Equal(1L, await ResendRowsAsync(ticket.RegistrationId));
    }

    [Fact]
    public async Task A_failed_ticket_is_sent_again_once_the_number_is_fixed()
    {
        var ticket = await app.PaidTicketAsync();
        app.WhatsApp.FailNextSends(400, 131026);
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Equal("failed", (await app.DeliveryAsync(ticket.RegistrationId)).Status);
        app.Clock.Advance(WhatsAppSendPace.PairSpacing);

        var answer = await app.ResendTicketAsync(ticket.RegistrationId, Guid.NewGuid().ToString(), "Number checked with the member");

        Assert.Equal((202, "failed"), (answer.Status, answer.Json.GetProperty("previousStatus").GetString()));
        await app.DeliverAsync(await app.TakeQueueMessageAsync(ticket.RegistrationId));
        Assert.Equal("sent", (await app.DeliveryAsync(ticket.RegistrationId)).Status);
        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
    }

    [Fact]
    public async Task What_cannot_be_sent_again_is_409_and_writes_nothing()
    {
        var queued = await app.PaidTicketAsync();
        var cancelled = await SentTicketAsync();
        await app.ExecuteAsync("update events set status = 'cancelled' where id = @id", new { id = cancelled.EventId });
        var eventId = await app.CreateEventAsync();
        var (pending, _) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var reused = await SentTicketAsync();
        Assert.Equal(202, (await app.ResendTicketAsync(reused.RegistrationId, "once", "first reason")).Status);
        var snapshot = await DatabaseSnapshot.TakeAsync(app);
        var resends = await app.ScalarAsync<long>("select count(*) from ticket_resends");
        var audits = await app.ScalarAsync<long>("select count(*) from admin_audit");

        var underWay = await app.ResendTicketAsync(queued.RegistrationId, "k1");
        var ofCancelled = await app.ResendTicketAsync(cancelled.RegistrationId, "k2");
        var neverPaid = await app.ResendTicketAsync(pending, "k3");
        var keyReused = await app.ResendTicketAsync(reused.RegistrationId, "once", "another reason");

        foreach (var (answer, words) in new[] { (underWay, "under way"), (ofCancelled, "cancelled"), (neverPaid, "never paid") })
        {
            Assert.Equal((409, "urn:eventregistration:problem:ticket-not-resendable"), (answer.Status, answer.ProblemType));
            Assert.Contains(words, answer.Json.GetProperty("detail").GetString());
        }

        Assert.Equal((409, "urn:eventregistration:problem:idempotency-key-reused", "Idempotency-Key"),
            (keyReused.Status, keyReused.ProblemType, keyReused.Json.GetProperty("field").GetString()));
        Assert.Equal(snapshot, await DatabaseSnapshot.TakeAsync(app));
        Assert.Equal((resends, audits), (await app.ScalarAsync<long>("select count(*) from ticket_resends"), await app.ScalarAsync<long>("select count(*) from admin_audit")));
    }

    [Fact]
    public async Task A_ticket_whose_refund_is_under_way_is_not_sent_again_because_it_no_longer_admits()
    {
        var ticket = await SentTicketAsync();
        Assert.Equal(202, (await app.RefundRegistrationAsync(ticket.RegistrationId)).Status);
        Assert.Equal("paid", await app.ScalarAsync<string>("select status from event_registrations where id = @id", new { id = ticket.RegistrationId }));
        var snapshot = await DatabaseSnapshot.TakeAsync(app);

        var answer = await app.ResendTicketAsync(ticket.RegistrationId, "k-refund");

        Assert.Equal((409, "urn:eventregistration:problem:ticket-not-resendable"), (answer.Status, answer.ProblemType));
        Assert.Contains("refund", answer.Json.GetProperty("detail").GetString());
        Assert.Equal(snapshot, await DatabaseSnapshot.TakeAsync(app));
        Assert.Equal(0, await ResendRowsAsync(ticket.RegistrationId));
        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        await app.AssertAllAsync();
    }

    public static TheoryData<string, string?, string> InvalidRequests() => new()
    {
        { AdminOperatorCalls.ReasonBody(), null, "Idempotency-Key" },
        { AdminOperatorCalls.ReasonBody(), new string('k', 201), "Idempotency-Key" },
        { AdminOperatorCalls.ReasonBody(), "has space", "Idempotency-Key" },
        { AdminOperatorCalls.ReasonBody(), "ключ", "Idempotency-Key" },
        { "{}", "k", "reason" },
        { """{"reason":"  "}""", "k", "reason" },
        { """{"reason":true}""", "k", "reason" },
        { JsonSerializer.Serialize(new { reason = new string('r', 501) }), "k", "reason" },
    };

    [Theory]
    [MemberData(nameof(InvalidRequests))]
    public async Task Each_invalid_field_or_header_is_named_and_nothing_is_written(string body, string? requestKey, string field)
    {
        var ticket = await SentTicketAsync();
        var snapshot = await DatabaseSnapshot.TakeAsync(app);

        var answer = await app.ResendTicketAsync(ticket.RegistrationId.ToString(), body, requestKey);

        Assert.Equal(400, answer.Status);
        Assert.Equal("application/problem+json", answer.ContentType);
        Assert.Equal(field, answer.Json.GetProperty("field").GetString());
        Assert.Equal(snapshot, await DatabaseSnapshot.TakeAsync(app));
        Assert.Equal(0L, await ResendRowsAsync(ticket.RegistrationId));
    }

    [Fact]
    public async Task Malformed_json_a_bad_route_id_an_unknown_registration_and_callers_without_the_role_are_refused()
    {
        var ticket = await SentTicketAsync();
        var snapshot = await DatabaseSnapshot.TakeAsync(app);

        Assert.Equal("urn:eventregistration:problem:malformed-json",
            (await app.ResendTicketAsync(ticket.RegistrationId.ToString(), "{\"reason\":", "k")).ProblemType);
        var badId = await app.ResendTicketAsync("nope", AdminOperatorCalls.ReasonBody(), "k");
        Assert.Equal((400, "registrationId"), (badId.Status, badId.Json.GetProperty("field").GetString()));
        Assert.Equal(404, (await app.ResendTicketAsync(Guid.NewGuid(), "k")).Status);
        var anonymous = await app.ResendTicketAsync(ticket.RegistrationId.ToString(), AdminOperatorCalls.ReasonBody(), "k", key: null);
        var organiser = await app.ResendTicketAsync(ticket.RegistrationId.ToString(), AdminOperatorCalls.ReasonBody(), "k", key: AdminKeys.Organiser);
        Assert.Equal((401, "urn:eventregistration:problem:admin-unauthenticated"), (anonymous.Status, anonymous.ProblemType));
        Assert.Equal((403, "urn:eventregistration:problem:admin-forbidden"), (organiser.Status, organiser.ProblemType));

        Assert.Equal(snapshot, await DatabaseSnapshot.TakeAsync(app));
        Assert.Equal(0L, await ResendRowsAsync(ticket.RegistrationId));
        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
    }

    [Fact]
    public async Task A_resend_whose_message_was_lost_is_enqueued_after_the_short_grace_and_sent_once()
    {
        var ticket = await SentTicketAsync();
        Assert.Equal(202, (await app.ResendTicketAsync(ticket.RegistrationId, "req-lost", "Member lost the message")).Status);
        // The message after the commit never reached the queue (or was lost on it).
        await app.TakeQueueMessageAsync(ticket.RegistrationId);
        await app.DrainTicketQueueAsync();

        // Within the grace the resend's own message may still be on its way: left alone.
        await app.ReconcileAsync();
        Assert.DoesNotContain(ticket.RegistrationId, await app.DrainTicketQueueAsync());

        // Past Reconciliation__UnsentDeliveryGraceSeconds (120 s), long before the 15-minute stuck threshold.
        app.Clock.Advance(TimeSpan.FromMinutes(3));
        await app.ReconcileAsync();
        Assert.Equal([ticket.RegistrationId], (await app.DrainTicketQueueAsync()).Where(id => id == ticket.RegistrationId));
        // Marked as enqueued: the next run sends no second copy.
        await app.ReconcileAsync();
        Assert.DoesNotContain(ticket.RegistrationId, await app.DrainTicketQueueAsync());

        await app.DeliverAsync(new EventRegistration.Functions.Infrastructure.Storage.TicketDeliveryMessage(ticket.RegistrationId).ToJson());
        Assert.Equal(2, app.WhatsApp.SentTo(ticket.Phone).Count);
        Assert.Equal("sent", (await app.DeliveryAsync(ticket.RegistrationId)).Status);
        await app.AssertAllAsync();
    }
}
