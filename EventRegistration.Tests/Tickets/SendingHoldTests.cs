using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.WhatsAppWebhooks;

namespace EventRegistration.Tests.Tickets;

/// <summary>Template and token trouble stop further sends with one clear anomaly, instead of burning every queued ticket's attempts.</summary>
public sealed class SendingHoldTests(TestApp app) : IClassFixture<TestApp>
{
    [Theory]
    [InlineData(400, 132015, "template_paused")]
    [InlineData(400, 132001, "template_problem")]
    [InlineData(401, 190, "access_token_invalid")]
    public async Task Template_or_token_trouble_holds_every_send_until_released_then_each_ticket_goes_out_once(int status, int code, string category)
    {
        await app.ReleaseSendingHoldsAsync();
        var first = await app.PaidTicketAsync();
        var second = await app.PaidTicketAsync();
        app.WhatsApp.FailNextSends(status, code);

        await app.DeliverAsync(first.QueueMessage);

        // The refused ticket waits (not failed), one attempt spent, and sending is on hold.
        var refused = await app.DeliveryAsync(first.RegistrationId);
        Assert.Equal("queued", refused.Status);
        Assert.Equal(1, refused.Attempts);
        Assert.Contains(category, refused.LastError);
        Assert.NotNull(refused.NextAttemptAt);
        Assert.Equal([category], await app.QueryAsync<string>("select category from whatsapp_sending_holds where released_at is null"));
        Assert.DoesNotContain(await app.AnomaliesAsync(first.RegistrationId), a => a.Kind == "ticket_failed");
        Assert.Single(await app.AnomaliesAsync(first.RegistrationId), a => a.Kind == "whatsapp_sending_blocked");

        // The next ticket is not even tried, and spends no attempt, however often its message comes.
        await app.DeliverAsync(second.QueueMessage);
        app.Clock.Advance(TimeSpan.FromMinutes(16));
        await app.DeliverAsync(second.QueueMessage);
        await app.DeliverAsync(first.QueueMessage);
        Assert.Empty(app.WhatsApp.SendAttemptsTo(second.Phone));
        Assert.Single(app.WhatsApp.SendAttemptsTo(first.Phone));
        var waiting = await app.DeliveryAsync(second.RegistrationId);
        Assert.Equal(("queued", 0), (waiting.Status, waiting.Attempts));
        Assert.Contains("on hold", waiting.LastError);
        Assert.Equal(1, (await app.DeliveryAsync(first.RegistrationId)).Attempts);
        Assert.DoesNotContain(await app.AnomaliesAsync(second.RegistrationId), a => a.Kind is "whatsapp_sending_blocked" or "ticket_failed");

        // An operator fixes the template or the token and releases the hold: both go out, once each.
        await app.ReleaseSendingHoldsAsync();
        app.Clock.Advance(TimeSpan.FromMinutes(16));
        await app.DeliverAsync(first.QueueMessage);
        await app.DeliverAsync(second.QueueMessage);
        Assert.Single(app.WhatsApp.SentTo(first.Phone));
        Assert.Single(app.WhatsApp.SentTo(second.Phone));
        Assert.Equal("sent", (await app.DeliveryAsync(first.RegistrationId)).Status);
        Assert.Equal("sent", (await app.DeliveryAsync(second.RegistrationId)).Status);
        await app.AssertAllAsync();
    }
}
