using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;

namespace EventRegistration.Tests.Faults;

/// <summary>Storage unreachable after the confirmation committed: the payment stands, the queued delivery waits for the reconciliation.</summary>
public sealed class StorageFaultTests(StorageFaultTests.ProxiedStorageApp app) : IClassFixture<StorageFaultTests.ProxiedStorageApp>
{
    /// <summary>The app reaches Azurite's queue service through a TCP proxy the test can take down.</summary>
    public sealed class ProxiedStorageApp : TestApp
    {
        public TcpProxy QueueProxy { get; } = new(10001);

        protected override void Configure(IDictionary<string, string?> settings) =>
            settings["AzureWebJobsStorage"] = AzuriteConnectionString.Replace("127.0.0.1:10001", $"127.0.0.1:{QueueProxy.Port}");

        public override async Task DisposeAsync()
        {
            await base.DisposeAsync();
            await QueueProxy.DisposeAsync();
        }
    }

    [Fact]
    public async Task Confirmations_succeed_while_the_queue_is_down_and_the_reconciliation_enqueues_each_ticket_once()
    {
        var eventId = await app.CreateEventAsync();
        var orders = new List<(Guid RegistrationId, string OrderId)>();
        for (var i = 0; i < 3; i++)
        {
            orders.Add(await app.OrderAsync(eventId, await app.CreateMemberAsync()));
        }

        await app.ClearTicketQueueAsync();
        app.QueueProxy.GoDown();
        try
        {
            foreach (var (_, orderId) in orders)
            {
                var answer = await app.ConfirmAsync(orderId, TestApp.NewPaymentId());
                Assert.Equal(200, answer.Status);
                Assert.Equal("paid", answer.Json.GetProperty("status").GetString());
            }

            // The delivery rows committed with the payments are what is owed.
            Assert.Equal(3, await app.ScalarAsync<long>(
                "select count(*) from ticket_deliveries where registration_id = any(@ids) and status = 'queued' and attempts = 0",
                new { ids = orders.Select(o => o.RegistrationId).ToArray() }));

            // Still down after the grace: the run's attempt changes nothing and loses nothing.
            app.Clock.Advance(TimeSpan.FromMinutes(3));
            var down = await app.ReconcileAsync();
            Assert.Equal("completed_with_errors", down.Status);
            Assert.Equal(0, down.Count("deliveries", "unsent"));
            Assert.Equal(1, down.Count("deliveries", "errors"));
        }
        finally
        {
            app.QueueProxy.Restore();
        }

        Assert.Equal(3, (await app.ReconcileAsync()).Count("deliveries", "unsent"));
        Assert.Equal(0, (await app.ReconcileAsync()).Count("deliveries", "unsent"));
        Assert.Equal(orders.Select(o => o.RegistrationId).Order(), (await app.DrainTicketQueueAsync()).Order());
        await app.AssertAllAsync();
    }

    /// <summary>
    /// Seen once under load: the queue proxy accepted and dropped a connection, and the socket error
    /// escaped the queue-failure filter after the payment had committed (a 500 for a paid checkout).
    /// Every way the queue can be unreachable is one answer: not sent, the reconciliation enqueues it.
    /// </summary>
    public static TheoryData<string, Exception, bool> QueueFailures() => new()
    {
        { "socket error outside an HttpRequestException", new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.NotConnected), true },
        { "storage answered with a failure", new Azure.RequestFailedException(503, "Server busy"), true },
        { "connection refused", new HttpRequestException("Connection refused"), true },
        { "timeout", new TaskCanceledException("timed out"), true },
        { "several transport failures", new AggregateException(new IOException("reset"), new TimeoutException()), true },
        { "a bug", new InvalidOperationException("bug"), false },
        { "a bug among transport failures", new AggregateException(new IOException("reset"), new NullReferenceException()), false },
    };

    [Theory]
    [MemberData(nameof(QueueFailures))]
    public void Every_way_the_queue_is_unreachable_is_classified_once(string situation, Exception failure, bool unavailable)
    {
        Assert.True(unavailable == Functions.Infrastructure.Storage.TicketQueue.IsUnavailable(failure), situation);
    }
}
