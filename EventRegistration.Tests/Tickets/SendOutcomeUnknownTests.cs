using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Tickets;

/// <summary>
/// A gateway error or timeout answered by the messages call does not say that nothing went out:
/// Meta may have accepted the message before the error was produced. The ticket is then in doubt
/// (stays `sending`), sent again only after Tickets:ResendUnfinishedAfterSeconds, and flagged.
/// </summary>
public sealed class SendOutcomeUnknownTests(TestApp app) : IClassFixture<TestApp>, IDisposable
{
    public void Dispose() => app.WhatsApp.ClearFailures();

    [Theory]
    [InlineData(502, 1)]
    [InlineData(408, 1)]
    [InlineData(500, 131000)]
    [InlineData(504, 2)]
    public async Task A_server_error_or_408_from_the_send_is_an_unknown_outcome_resent_only_after_the_threshold_and_flagged(int status, int code)
    {
        var ticket = await app.PaidTicketAsync();
        app.WhatsApp.FailNextSends(status, code);

        await app.DeliverAsync(ticket.QueueMessage);

        var inDoubt = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("sending", inDoubt.Status);
        Assert.Equal(1, inDoubt.Attempts);
        Assert.Contains($"HTTP {status}", inDoubt.LastError);
        Assert.Contains("outcome_unknown", inDoubt.LastError);

        // Copies that come back before the threshold send nothing.
        await app.DeliverAsync(ticket.QueueMessage);
        app.Clock.Advance(TimeSpan.FromSeconds(30));
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Single(app.WhatsApp.SendAttemptsTo(ticket.Phone));
        Assert.Equal("sending", (await app.DeliveryAsync(ticket.RegistrationId)).Status);

        // The scheduled message surfacing a few seconds early (queue and worker clocks differ) still
        // does not resend before the threshold: it puts itself back for the rest of the wait.
        var queued = await app.MessagesOnQueueAsync();
        app.Clock.Advance(TimeSpan.FromSeconds(27));
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Single(app.WhatsApp.SendAttemptsTo(ticket.Phone));
        Assert.Equal(queued + 1, await app.MessagesOnQueueAsync());

        app.Clock.Advance(TimeSpan.FromSeconds(4));
        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Equal(2, app.WhatsApp.SendAttemptsTo(ticket.Phone).Count);
        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("sent", delivery.Status);
        Assert.Equal(2, delivery.Attempts);
        Assert.Contains(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_resent_after_unknown_outcome");
        await app.AssertAllAsync();
    }

    [Theory]
    [InlineData(502)]
    [InlineData(408)]
    public async Task The_same_answer_from_the_media_upload_is_plain_transient_and_retried_without_a_flag(int status)
    {
        var ticket = await app.PaidTicketAsync();
        app.WhatsApp.FailNextUploads(status, 1);

        await app.DeliverAsync(ticket.QueueMessage);

        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("queued", delivery.Status);
        Assert.Empty(app.WhatsApp.SendAttemptsTo(ticket.Phone));

        app.Clock.Advance(TimeSpan.FromMinutes(1));
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        Assert.DoesNotContain(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_resent_after_unknown_outcome");
    }
}
