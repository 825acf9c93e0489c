using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Tickets;

namespace EventRegistration.Tests.Faults;

/// <summary>
/// The worst moment for a ticket: WhatsApp accepted the message and the database is gone before
/// the wamid is written (a worker killed there leaves the same state). WhatsApp has no idempotency
/// key, so the documented behaviour (docs/tickets.md) is: the delivery stays `sending`; copies of
/// the message that arrive within the resend threshold send nothing; after it, the ticket is sent
/// once more and flagged, because a possible second message beats no ticket.
/// </summary>
public sealed class TicketCrashTests(ProxiedDatabaseApp app) : IClassFixture<ProxiedDatabaseApp>
{
    [Fact]
    public async Task Database_lost_between_the_send_and_the_wamid_leaves_sending_then_one_flagged_resend()
    {
        var ticket = await app.PaidTicketAsync();
        app.WhatsApp.OnSendAccepted = app.Proxy.GoDown;
        try
        {
            // Completes (no retry asked for): a retry now would send a second message at once.
            await app.DeliverAsync(ticket.QueueMessage);
        }
        finally
        {
            app.WhatsApp.OnSendAccepted = null;
            app.Proxy.Restore();
        }

        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        var afterCrash = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("sending", afterCrash.Status);
        Assert.Null(afterCrash.Wamid);

        // A redelivered copy inside the threshold: nothing is sent; it schedules the resend for the
        // threshold, with a delayed message of its own, and completes.
        var queued = await app.MessagesOnQueueAsync();
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        Assert.Equal(queued + 1, await app.MessagesOnQueueAsync());
        Assert.Equal(afterCrash.LastAttemptAt!.Value.AddSeconds(60), (await app.DeliveryAsync(ticket.RegistrationId)).NextAttemptAt!.Value, TimeSpan.FromMilliseconds(1));

        // After the threshold: one more send, recorded, and flagged for an operator.
        app.Clock.Advance(TimeSpan.FromSeconds(61));
        await app.DeliverAsync(ticket.QueueMessage);
        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Equal(2, app.WhatsApp.SentTo(ticket.Phone).Count);
        var final = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("sent", final.Status);
        Assert.NotNull(final.Wamid);
        Assert.Contains(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_resent_after_unknown_outcome");
    }
}
