using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using EventRegistration.Functions.Confirmation;
using EventRegistration.Functions.Reconciliation;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;

namespace EventRegistration.Tests.Reconciliation;

public sealed class QueueDownAtCommitTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task A_row_left_undispatched_by_a_dead_queue_is_dispatched_exactly_once_by_the_run_after_the_queue_is_back()
    {
        // A second instance of the app on the same database whose storage endpoint has nothing listening.
        var settings = app.Settings();
        var deadPort = FreePort();
        settings["AzureWebJobsStorage"] = TestApp.AzuriteConnectionString
            .Replace("127.0.0.1:10000", $"127.0.0.1:{deadPort}", StringComparison.Ordinal)
            .Replace("127.0.0.1:10001", $"127.0.0.1:{deadPort}", StringComparison.Ordinal);
        using var deadQueueHost = TestApp.BuildHost(settings, app.Clock);
        await deadQueueHost.StartAsync();

        var eventId = await app.CreateEventAsync(capacity: 10);
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paymentId = TestApp.NewPaymentId();
        var request = TestApp.Request(new JsonObject
        {
            ["razorpay_order_id"] = orderId,
            ["razorpay_payment_id"] = paymentId,
            ["razorpay_signature"] = TestApp.CheckoutSignature(orderId, paymentId),
        }.ToJsonString());
        var answer = await TestApp.ExecuteAsync(request,
            await ActivatorUtilities.CreateInstance<ConfirmCheckoutFunction>(deadQueueHost.Services).ConfirmCheckout(request));

        Assert.Equal(200, answer.Status);
        var outbox = (await app.QueryAsync<(DateTime? DispatchedAt, int Attempts)>(
            "select dispatched_at, dispatch_attempts from outbox where registration_id = @registrationId", new { registrationId })).Single();
        Assert.Equal((null, 1), outbox);
        await app.ClearTicketQueueAsync();
        app.Clock.Advance(TimeSpan.FromMinutes(2));

        // A run while the queue is still down leaves the row and says so; the other steps still run.
        var deadBefore = await app.ScalarAsync<long>("select coalesce(max(id), 0) from reconciliation_runs");
        await ActivatorUtilities.CreateInstance<ReconcileFunction>(deadQueueHost.Services).Reconcile(new TimerInfo(), CancellationToken.None);
        var deadRun = Assert.Single(await app.RunsAfterAsync(deadBefore));
        Assert.Equal("completed_with_errors", deadRun.Status);
        Assert.Equal(0, deadRun.Count("outbox", "dispatched"));
        Assert.Equal(1, deadRun.Count("outbox", "left"));
        Assert.Equal(1, deadRun.Count("outbox", "errors"));
        Assert.Equal(0, deadRun.Count("audit", "errors"));
        Assert.Contains("\"audit\"", deadRun.Summary);

        var run = await app.ReconcileAsync();
        Assert.Equal("completed", run.Status);
        Assert.Equal(1, run.Count("outbox", "dispatched"));
        Assert.Equal(0, run.Count("deliveries", "requeued"));
        Assert.Equal([registrationId], await app.QueuedTicketsAsync());

        var again = await app.ReconcileAsync();
        Assert.Equal(0, again.Count("outbox", "dispatched"));
        Assert.Equal([registrationId], await app.QueuedTicketsAsync());
        Assert.NotNull(await app.ScalarAsync<DateTime?>("select dispatched_at from outbox where registration_id = @registrationId", new { registrationId }));
        await app.AssertAllAsync();
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
