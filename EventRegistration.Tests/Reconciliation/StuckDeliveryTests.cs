using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Reconciliation;

public sealed class StuckDeliveryTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Deliveries_stuck_in_queued_or_sending_are_re_enqueued_and_a_sent_one_never_is()
    {
        var eventId = await app.CreateEventAsync(capacity: 10);
        var (queued, _, _) = await app.PaidRegistrationAsync(eventId);
        var (sending, _, _) = await app.PaidRegistrationAsync(eventId);
        var (sent, _, _) = await app.PaidRegistrationAsync(eventId);
        await app.ExecuteAsync("update ticket_deliveries set status = 'sending', attempts = 1 where registration_id = @sending", new { sending });
        await app.ExecuteAsync("update ticket_deliveries set status = 'sent', attempts = 1, wamid = 'wamid.TEST1', sent_at = now() where registration_id = @sent", new { sent });
        await app.ClearTicketQueueAsync();

        var fresh = await app.ReconcileAsync();
        Assert.Equal(0, fresh.Count("deliveries", "requeued") + fresh.Count("deliveries", "unsent"));

        // Past the short grace only the never-attempted delivery is due; an attempt under way waits for the stuck threshold.
        app.Clock.Advance(TimeSpan.FromMinutes(3));
        var grace = await app.ReconcileAsync();
        Assert.Equal(1, grace.Count("deliveries", "unsent"));
        Assert.Equal(0, grace.Count("deliveries", "requeued"));
        Assert.Equal([queued], await app.QueuedTicketsAsync());
        await app.ClearTicketQueueAsync();

        // Once enqueued by the run, a delivery whose copy is lost again waits the stuck threshold like any other.
        app.Clock.Advance(TimeSpan.FromMinutes(16));
        var run = await app.ReconcileAsync();
        Assert.Equal(2, run.Count("deliveries", "requeued"));
        Assert.Equal(0, run.Count("deliveries", "unsent"));
        Assert.Equal(new[] { queued, sending }.Order(), (await app.QueuedTicketsAsync()).Order());

        // updated_at was bumped: the next run waits a whole grace or threshold again.
        var next = await app.ReconcileAsync();
        Assert.Equal(0, next.Count("deliveries", "requeued") + next.Count("deliveries", "unsent"));
        Assert.Equal(2, (await app.QueuedTicketsAsync()).Count);

        app.Clock.Advance(TimeSpan.FromMinutes(16));
        await app.ClearTicketQueueAsync();
        var later = await app.ReconcileAsync();
        Assert.Equal(2, later.Count("deliveries", "requeued"));
        Assert.DoesNotContain(sent, await app.QueuedTicketsAsync());
        Assert.Equal("sent", await app.ScalarAsync<string>("select status from ticket_deliveries where registration_id = @sent", new { sent }));
        await app.AssertAllAsync();
    }
}
