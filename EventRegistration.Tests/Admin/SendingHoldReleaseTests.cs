using EventRegistration.Functions.Admin.WhatsAppHold;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Tickets;
using EventRegistration.Tests.WhatsAppWebhooks;

namespace EventRegistration.Tests.Admin;

/// <summary>An operator releases WhatsApp's sending hold through the admin API; the tickets it held go out at once, once each.</summary>
public sealed class SendingHoldReleaseTests(TestApp app) : IClassFixture<TestApp>
{
    private async Task<HttpAnswer> ReleaseAsync(string body, string? key = AdminKeys.Operator)
    {
        var request = TestApp.Request(body, AdminKeys.With(key));
        return await TestApp.ExecuteAsync(request, await app.Function<SendingHoldFunction>().AdminReleaseSendingHold(request));
    }

    private async Task<HttpAnswer> CurrentAsync(string? key = AdminKeys.Operator)
    {
        var request = TestApp.Request("", AdminKeys.With(key));
        request.Method = "GET";
        return await TestApp.ExecuteAsync(request, await app.Function<SendingHoldFunction>().AdminSendingHold(request));
    }

    [Fact]
    public async Task Releasing_the_hold_is_audited_and_the_held_tickets_are_sent_at_once_exactly_once()
    {
        await app.ReleaseSendingHoldsAsync();
        var first = await app.PaidTicketAsync();
        var second = await app.PaidTicketAsync();
        app.WhatsApp.FailNextSends(400, 132015);
        await app.DeliverAsync(first.QueueMessage);
        await app.DeliverAsync(second.QueueMessage);
        Assert.Empty(app.WhatsApp.SentTo(first.Phone));
        Assert.Empty(app.WhatsApp.SentTo(second.Phone));

        var current = await CurrentAsync();
        Assert.Equal(200, current.Status);
        Assert.True(current.Json.GetProperty("onHold").GetBoolean());
        Assert.Equal("template_paused", current.Json.GetProperty("hold").GetProperty("category").GetString());
        Assert.True(current.Json.GetProperty("hold").GetProperty("waitingTickets").GetInt64() >= 2);

        // Who may, and what a release must say; none of these changes anything.
        Assert.Equal(401, (await ReleaseAsync("""{"note":"fixed"}""", key: null)).Status);
        Assert.Equal(403, (await ReleaseAsync("""{"note":"fixed"}""", AdminKeys.Organiser)).Status);
        Assert.Equal(403, (await CurrentAsync(AdminKeys.Organiser)).Status);
        var noNote = await ReleaseAsync("{}");
        Assert.Equal((400, "note"), (noNote.Status, noNote.Json.GetProperty("field").GetString()));
        Assert.Equal(400, (await ReleaseAsync("""{"note":"   "}""")).Status);
        Assert.Equal(400, (await ReleaseAsync("""{"note":""")).Status);
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from whatsapp_sending_holds where released_at is null"));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from admin_audit where action = 'whatsapp_hold.release'"));

        var released = await ReleaseAsync("""{"note":"Template re-approved by Meta"}""");

        Assert.Equal(200, released.Status);
        Assert.Equal(2, released.Json.GetProperty("resumedTickets").GetInt32());
        Assert.Equal(2, released.Json.GetProperty("enqueued").GetInt32());
        Assert.Equal("Template re-approved by Meta", released.Json.GetProperty("hold").GetProperty("releaseNote").GetString());
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from whatsapp_sending_holds where released_at is null"));
        var audit = await app.QueryAsync<(string Actor, string Role, string Before, string After)>(
            "select actor, role, before::text, after::text from admin_audit where action = 'whatsapp_hold.release'");
        var row = Assert.Single(audit);
        Assert.Equal("operator", row.Role);
        Assert.Contains("template_paused", row.Before);
        Assert.Contains("Template re-approved by Meta", row.After);

        // The held tickets' messages are on the queue now, not in 15 minutes; the clock has not moved.
        var visible = (await app.TicketQueueClient().ReceiveMessagesAsync(32)).Value;
        Assert.Equal(new[] { first.RegistrationId, second.RegistrationId }.Order(),
            visible.Select(m => TestApp.ParseQueueMessage(m.MessageText)!.RegistrationId).Order());
        foreach (var message in visible)
        {
            await app.DeliverAsync(message.MessageText);
        }
        // A copy (the hold's own delayed message, arriving later) sends nothing more.
        app.Clock.Advance(TimeSpan.FromMinutes(16));
        await app.DeliverAsync(first.QueueMessage);
        await app.DeliverAsync(second.QueueMessage);
        Assert.Single(app.WhatsApp.SentTo(first.Phone));
        Assert.Single(app.WhatsApp.SentTo(second.Phone));
        Assert.Equal("sent", (await app.DeliveryAsync(first.RegistrationId)).Status);
        Assert.Equal("sent", (await app.DeliveryAsync(second.RegistrationId)).Status);
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from ticket_deliveries where held_since is not null"));

        // Nothing is on hold any more: a second release changes nothing.
        var again = await ReleaseAsync("""{"note":"again"}""");
        Assert.Equal(409, again.Status);
        Assert.EndsWith(":sending-not-held", again.ProblemType);
        Assert.False((await CurrentAsync()).Json.GetProperty("onHold").GetBoolean());
        Assert.Single(await app.QueryAsync<long>("select id from admin_audit where action = 'whatsapp_hold.release'"));
        await app.AssertAllAsync();
    }
}
