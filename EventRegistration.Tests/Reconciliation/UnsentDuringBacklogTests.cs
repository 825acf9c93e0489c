using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Tickets;

namespace EventRegistration.Tests.Reconciliation;

/// <summary>
/// One message a second (90 % of it with the pace's headroom) and a stuck threshold of 10 minutes:
/// a backlog of a few hundred messages then stands for minutes of sending, as 10,000 do at 80/s.
/// </summary>
public sealed class SlowPacedApp : TestApp
{
    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["WhatsApp:MessagesPerSecond"] = "1";
        settings["Reconciliation:StuckDeliveryMinutes"] = "10";
    }
}

/// <summary>
/// A delivery whose message waits behind a long backlog on the real (Azurite) ticket queue is not
/// unsent: the reconciliation's grace for a never-attempted delivery grows by the time the backlog
/// takes at the configured pace, so it enqueues no extra copy. A message really lost is still
/// found (invariant 8): once the backlog would have drained, and never later than the stuck threshold.
/// </summary>
public sealed class UnsentDuringBacklogTests(SlowPacedApp app) : IClassFixture<SlowPacedApp>
{
    /// <summary>Ticket messages for registrations that do not exist: what a busy opening leaves on the queue.</summary>
    private async Task FillQueueAsync(int messages)
    {
        var queue = app.TicketQueueClient();
        await queue.CreateIfNotExistsAsync();
        for (var sent = 0; sent < messages; sent += 50)
        {
            await Task.WhenAll(Enumerable.Range(0, Math.Min(50, messages - sent))
                .Select(_ => queue.SendMessageAsync(new TicketDeliveryMessage(Guid.NewGuid()).ToJson())));
        }
    }

    private async Task<(Guid RegistrationId, string Phone)> PaidAsync()
    {
        var phone = "+919833" + Random.Shared.Next(100_000, 999_999);
        var (registrationId, orderId) = await app.OrderAsync(await app.CreateEventAsync(), await app.CreateMemberAsync(phone));
        Assert.Equal(200, (await app.ConfirmAsync(orderId, TestApp.NewPaymentId())).Status);
        return (registrationId, phone);
    }

    [Fact]
    public async Task Deliveries_waiting_behind_a_long_backlog_get_no_extra_copy()
    {
        await app.ClearTicketQueueAsync();
        var waiting = new[] { await PaidAsync(), await PaidAsync(), await PaidAsync() };
        await FillQueueAsync(200);
        var onQueue = await app.MessagesOnQueueAsync();
        Assert.Equal(203, onQueue);

        // Past the 120 s grace, well within the ~220 s the backlog takes at 0.9 messages a second.
        app.Clock.Advance(TimeSpan.FromSeconds(240));
        var run = await app.ReconcileAsync();

        Assert.Equal("completed", run.Status);
        Assert.Equal((0, 0), (run.Count("deliveries", "unsent"), run.Count("deliveries", "requeued")));
        Assert.Equal(onQueue, await app.MessagesOnQueueAsync());
        foreach (var (registrationId, _) in waiting)
        {
            Assert.Equal(("queued", 0), ((await app.DeliveryAsync(registrationId)).Status, (await app.DeliveryAsync(registrationId)).Attempts));
        }

        // Their messages come to the front at last: one ticket each.
        await app.ClearTicketQueueAsync();
        foreach (var (registrationId, phone) in waiting)
        {
            await app.DeliverAsync(new TicketDeliveryMessage(registrationId).ToJson());
            Assert.Single(app.WhatsApp.SentTo(phone));
        }

        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_message_lost_during_a_long_backlog_is_enqueued_once_when_the_backlog_would_have_drained_and_sent_once()
    {
        await app.ClearTicketQueueAsync();
        var (lost, phone) = await PaidAsync();
        await app.TakeQueueMessageAsync(lost);
        await FillQueueAsync(200);

        app.Clock.Advance(TimeSpan.FromSeconds(240));
        Assert.Equal(0, (await app.ReconcileAsync()).Count("deliveries", "unsent"));

        // 120 s + 200 messages ÷ 0.9/s ≈ 342 s after the payment.
        app.Clock.Advance(TimeSpan.FromSeconds(120));
        var run = await app.ReconcileAsync();
        Assert.Equal(1, run.Count("deliveries", "unsent"));
        // It was marked as enqueued: the next run sends no second copy.
        Assert.Equal(0, (await app.ReconcileAsync()).Count("deliveries", "unsent"));

        var mine = (await app.DrainTicketQueueAsync()).Count(id => id == lost);
        Assert.Equal(1, mine);
        await app.DeliverAsync(new TicketDeliveryMessage(lost).ToJson());
        Assert.Single(app.WhatsApp.SentTo(phone));
        Assert.Equal("sent", (await app.DeliveryAsync(lost)).Status);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_backlog_that_never_drains_delays_a_lost_message_no_longer_than_the_stuck_threshold()
    {
        await app.ClearTicketQueueAsync();
        var (lost, _) = await PaidAsync();
        await app.TakeQueueMessageAsync(lost);
        // 600 messages stand for ~670 s at 0.9/s, more than the 10-minute stuck threshold.
        await FillQueueAsync(600);

        app.Clock.Advance(TimeSpan.FromSeconds(540));
        Assert.Equal(0, (await app.ReconcileAsync()).Count("deliveries", "unsent"));

        app.Clock.Advance(TimeSpan.FromSeconds(70));
        var run = await app.ReconcileAsync();
        Assert.Equal(1, run.Count("deliveries", "unsent"));
        Assert.Equal(1, (await app.DrainTicketQueueAsync()).Count(id => id == lost));
        await app.DeliverAsync(new TicketDeliveryMessage(lost).ToJson());
        Assert.Equal("sent", (await app.DeliveryAsync(lost)).Status);
        await app.AssertAllAsync();
    }
}
