using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using EventRegistration.Functions.Confirmation;
using EventRegistration.Functions.Reconciliation;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Tickets;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;

namespace EventRegistration.Tests.Reconciliation;

/// <summary>
/// Invariant 8 through the delivery row: the confirming transaction writes the <c>queued</c>
/// delivery, the ticket message goes to the queue after commit, and whatever stops that message
/// (a dead queue, a process gone between commit and send) leaves the delivery for the
/// reconciliation, which enqueues it after the grace. One WhatsApp message in the end.
/// </summary>
public sealed class QueueDownAtCommitTests(TestApp app) : IClassFixture<TestApp>
{
    /// <summary>Past <c>Reconciliation__UnsentDeliveryGraceSeconds</c> (120 s), well before the 15 minutes of a stuck delivery.</summary>
    private static readonly TimeSpan PastGrace = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task A_ticket_the_dead_queue_refused_at_commit_is_enqueued_by_the_run_after_the_grace_and_sent_once()
    {
        // A second instance of the app on the same database whose storage endpoint has nothing listening.
        var settings = app.Settings();
        var deadPort = FreePort();
        settings["AzureWebJobsStorage"] = TestApp.AzuriteConnectionString
            .Replace("127.0.0.1:10000", $"127.0.0.1:{deadPort}", StringComparison.Ordinal)
            .Replace("127.0.0.1:10001", $"127.0.0.1:{deadPort}", StringComparison.Ordinal);
        using var deadQueueHost = TestApp.BuildHost(settings, app.Clock);
        await deadQueueHost.StartAsync();

        await app.ClearTicketQueueAsync();
        var eventId = await app.CreateEventAsync(capacity: 10);
        var phone = "+919845" + Random.Shared.Next(100_000, 999_999);
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync(phone));
        var paymentId = TestApp.NewPaymentId();
        var request = TestApp.Request(new JsonObject
        {
            ["razorpay_order_id"] = orderId,
            ["razorpay_payment_id"] = paymentId,
            ["razorpay_signature"] = TestApp.CheckoutSignature(orderId, paymentId),
        }.ToJsonString());
        var answer = await TestApp.ExecuteAsync(request,
            await ActivatorUtilities.CreateInstance<ConfirmCheckoutFunction>(deadQueueHost.Services).ConfirmCheckout(request));

        // The payment stands; the delivery row is the record that a ticket is owed.
        Assert.Equal(200, answer.Status);
        Assert.Equal("paid", answer.Json.GetProperty("status").GetString());
        Assert.Equal(("queued", 0), await DeliveryAsync(registrationId));
        Assert.Empty(await app.QueuedTicketsAsync());

        // Within the grace the confirming request may still be sending: the run leaves it.
        var early = await app.ReconcileAsync();
        Assert.Equal(0, early.Count("deliveries", "unsent"));
        Assert.Empty(await app.QueuedTicketsAsync());

        // A run while the queue is still down leaves the delivery and says so; the other steps still run.
        app.Clock.Advance(PastGrace);
        var deadBefore = await app.ScalarAsync<long>("select coalesce(max(id), 0) from reconciliation_runs");
        await ActivatorUtilities.CreateInstance<ReconcileFunction>(deadQueueHost.Services).Reconcile(new TimerInfo(), CancellationToken.None);
        var deadRun = Assert.Single(await app.RunsAfterAsync(deadBefore));
        Assert.Equal("completed_with_errors", deadRun.Status);
        Assert.Equal(0, deadRun.Count("deliveries", "unsent"));
        Assert.Equal(1, deadRun.Count("deliveries", "errors"));
        Assert.Equal(0, deadRun.Count("audit", "errors"));
        Assert.Contains("\"audit\"", deadRun.Summary);
        Assert.Equal(("queued", 0), await DeliveryAsync(registrationId));

        var run = await app.ReconcileAsync();
        Assert.Equal("completed", run.Status);
        Assert.Equal(1, run.Count("deliveries", "unsent"));
        Assert.Equal(0, run.Count("deliveries", "requeued"));
        Assert.Equal([registrationId], await app.QueuedTicketsAsync());

        // The delivery was marked as just enqueued: the next run does not send a second copy.
        var again = await app.ReconcileAsync();
        Assert.Equal(0, again.Count("deliveries", "unsent"));
        Assert.Equal([registrationId], await app.QueuedTicketsAsync());

        await app.DeliverAsync(await app.TakeQueueMessageAsync(registrationId));
        Assert.Single(app.WhatsApp.SentTo(phone));
        Assert.Equal(("sent", 1), await DeliveryAsync(registrationId));

        app.Clock.Advance(TimeSpan.FromMinutes(20));
        var later = await app.ReconcileAsync();
        Assert.Equal(0, later.Count("deliveries", "unsent") + later.Count("deliveries", "requeued"));
        Assert.Empty(await app.QueuedTicketsAsync());
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_ticket_message_lost_between_commit_and_send_is_enqueued_after_the_grace_and_sent_once()
    {
        var eventId = await app.CreateEventAsync(capacity: 10);
        var phone = "+919846" + Random.Shared.Next(100_000, 999_999);
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync(phone));
        Assert.Equal(200, (await app.ConfirmAsync(orderId, TestApp.NewPaymentId())).Status);

        // The process died after the commit and before the send: the delivery is queued, no message is.
        await app.ClearTicketQueueAsync();
        Assert.Equal(("queued", 0), await DeliveryAsync(registrationId));

        app.Clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(0, (await app.ReconcileAsync()).Count("deliveries", "unsent"));

        app.Clock.Advance(PastGrace);
        var run = await app.ReconcileAsync();
        Assert.Equal(1, run.Count("deliveries", "unsent"));
        Assert.Equal([registrationId], await app.QueuedTicketsAsync());

        await app.DeliverAsync(await app.TakeQueueMessageAsync(registrationId));
        Assert.Single(app.WhatsApp.SentTo(phone));
        Assert.Equal(("sent", 1), await DeliveryAsync(registrationId));
        await app.AssertAllAsync();
    }

    /// <summary>
    /// A message that waits on the queue longer than the grace (a backlog) gets a second copy; the
    /// copies, worked at once and one after the other, send one message. A delivery whose attempt is
    /// under way (<c>sending</c>) is not touched before the stuck threshold.
    /// </summary>
    [Fact]
    public async Task A_second_copy_for_a_message_still_waiting_on_the_queue_sends_nothing_more()
    {
        var eventId = await app.CreateEventAsync(capacity: 10);
        var phone = "+919847" + Random.Shared.Next(100_000, 999_999);
        var (waiting, waitingOrder) = await app.OrderAsync(eventId, await app.CreateMemberAsync(phone));
        var (inFlight, inFlightOrder) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        await app.ClearTicketQueueAsync();
        Assert.Equal(200, (await app.ConfirmAsync(waitingOrder, TestApp.NewPaymentId())).Status);
        Assert.Equal(200, (await app.ConfirmAsync(inFlightOrder, TestApp.NewPaymentId())).Status);
        // Both messages were sent at commit; the waiting one is held here as if the queue's backlog held it.
        Assert.Equal(new[] { waiting, inFlight }.Order(), (await app.DrainTicketQueueAsync()).Order());
        var first = new TicketDeliveryMessage(waiting).ToJson();
        await app.ExecuteAsync(
            "update ticket_deliveries set status = 'sending', attempts = 1, last_attempt_at = updated_at where registration_id = @inFlight",
            new { inFlight });

        app.Clock.Advance(PastGrace);
        var run = await app.ReconcileAsync();
        Assert.Equal(1, run.Count("deliveries", "unsent"));
        Assert.Equal(0, run.Count("deliveries", "requeued"));
        Assert.Equal([waiting], await app.QueuedTicketsAsync());
        var second = await app.TakeQueueMessageAsync(waiting);

        await Task.WhenAll(app.DeliverAsync(first), app.DeliverAsync(second));
        await app.DeliverAsync(second);
        Assert.Single(app.WhatsApp.SentTo(phone));
        Assert.Equal(("sent", 1), await DeliveryAsync(waiting));
        Assert.Equal(("sending", 1), await DeliveryAsync(inFlight));

        // Its worker finishes, so the class's other tests do not meet it as a stuck delivery.
        await app.ExecuteAsync(
            "update ticket_deliveries set status = 'sent', wamid = 'wamid.INFLIGHT' || registration_id, sent_at = updated_at where registration_id = @inFlight",
            new { inFlight });
        await app.AssertAllAsync();
    }

    private async Task<(string Status, int Attempts)> DeliveryAsync(Guid registrationId) =>
        (await app.QueryAsync<(string, int)>("select status, attempts from ticket_deliveries where registration_id = @registrationId", new { registrationId })).Single();

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
