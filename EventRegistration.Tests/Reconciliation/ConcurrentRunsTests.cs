using EventRegistration.Functions.Reconciliation;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Tickets;
using Microsoft.Azure.Functions.Worker;

namespace EventRegistration.Tests.Reconciliation;

public sealed class ConcurrentRunsTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Runs_started_at_once_handle_each_item_once()
    {
        var (refundEvent, _, refundPaymentId) = await app.RefundDueAsync();
        app.Razorpay.RefundAccepted(refundPaymentId, "rfnd_TConcurrent01", 50_000);
        // The member who took the last seat gets the ticket, as the queue trigger would send it.
        foreach (var paid in await app.QueuedTicketsAsync())
        {
            await app.DeliverAsync(await app.TakeQueueMessageAsync(paid));
        }

        var eventId = await app.CreateEventAsync(capacity: 10);
        var (lostRegistration, lostOrder) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var lostPayment = TestApp.NewPaymentId();
        app.Razorpay.OrderPayments(lostOrder, ReconciliationHarness.Payment(lostPayment, lostOrder, 50_000, "captured"));

        // A paid registration whose ticket message never reached the queue.
        var (undispatched, _, _) = await app.PaidRegistrationAsync(eventId);
        await app.ClearTicketQueueAsync();
        app.AgeBeyondGrace();

        var before = await app.ScalarAsync<long>("select coalesce(max(id), 0) from reconciliation_runs");
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
            app.Function<ReconcileFunction>().Reconcile(new TimerInfo(), CancellationToken.None))));
        var runs = await app.RunsAfterAsync(before);

        Assert.Equal(4, runs.Count);
        Assert.All(runs, r => Assert.Contains(r.Status, new[] { "completed", "skipped" }));
        Assert.Equal(1, runs.Sum(r => r.Count("refunds", "requested")));
        Assert.Equal(1, runs.Sum(r => r.Count("orders", "confirmed")));
        Assert.Equal(1, runs.Sum(r => r.Count("deliveries", "unsent")));
        Assert.Single(app.Razorpay.Requests($"/v1/payments/{refundPaymentId}/refund", "POST"));
        Assert.Single(app.Razorpay.Requests($"/v1/orders/{lostOrder}/payments", "GET"));
        Assert.Equal(new[] { lostRegistration, undispatched }.Order(), (await app.QueuedTicketsAsync()).Order());
        Assert.Equal(2, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @refundEvent", new { refundEvent }));
        await app.AssertAllAsync();
    }
}
