using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Tickets;

/// <summary>
/// A WhatsApp outage far longer than the queue's own retry window (host.json: 5 dequeues, 30 s
/// apart). Time is shifted, not waited for: the simulated host below brings each message back when
/// the real queue would, so the test sees what hours of outage do in a few seconds.
/// </summary>
public sealed class TicketOutageTests(TestApp app, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<TestApp>, IDisposable
{
    public void Dispose() => app.WhatsApp.ClearFailures();

    [Fact]
    public async Task A_thirty_minute_outage_ends_in_exactly_one_message_per_ticket()
    {
        var tickets = new List<PaidTicket>();
        for (var i = 0; i < 3; i++)
        {
            tickets.Add(await app.PaidTicketAsync(name: $"Member {i}"));
        }

        // Ten minutes of server errors on the media upload (nothing can reach a member), then
        // twenty minutes of throughput rate limits on the send, each asking for two minutes' pause.
        var start = app.Clock.GetUtcNow();
        app.WhatsApp.FailAllUploads(503, 131000);
        var host = new SimulatedQueueHost(app);
        foreach (var ticket in tickets)
        {
            host.Add(ticket.QueueMessage);
        }

        var phase = 1;
        await host.RunAsync(limit: TimeSpan.FromHours(6), beforeEach: elapsed =>
        {
            if (phase == 1 && elapsed >= TimeSpan.FromMinutes(10))
            {
                app.WhatsApp.ClearFailures();
                app.WhatsApp.FailAllSends(429, 130429, retryAfter: "120");
                phase = 2;
            }

            if (phase == 2 && elapsed >= TimeSpan.FromMinutes(30))
            {
                app.WhatsApp.ClearFailures();
                phase = 3;
            }
        });

        Assert.Equal(3, phase);
        Assert.Empty(host.Poisoned);
        Assert.True(app.Clock.GetUtcNow() - start >= TimeSpan.FromMinutes(30));
        foreach (var ticket in tickets)
        {
            Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
            var delivery = await app.DeliveryAsync(ticket.RegistrationId);
            Assert.Equal("sent", delivery.Status);
            Assert.InRange(delivery.Attempts, 5, 12);
            output.WriteLine($"{ticket.RegistrationId}: sent on attempt {delivery.Attempts} at +{DateTime.SpecifyKind(delivery.SentAt!.Value, DateTimeKind.Utc) - start.UtcDateTime}");
            Assert.DoesNotContain(await app.AnomaliesAsync(ticket.RegistrationId),
                a => a.Kind is "ticket_failed" or "ticket_poisoned" or "ticket_resent_after_unknown_outcome");
        }

        // Every retry was a queue message of its own, delayed, and at most one per ticket at a time.
        Assert.True(host.Requeued >= 3 * 4, $"{host.Requeued} re-enqueued messages");
        output.WriteLine($"{host.Requeued} scheduled retries, {host.Invocations} invocations, {host.Thrown} thrown");
        Assert.Equal(0, host.Thrown);
        Assert.Equal(0, host.MostInFlightPerTicket - 1);
        // A rate limit's Retry-After was never cut short.
        Assert.All(host.Schedules.Where(s => s.LastError.Contains("rate_limited", StringComparison.Ordinal)),
            s => Assert.True(s.NextAttemptAt - s.LastAttemptAt >= TimeSpan.FromSeconds(120), $"{s.LastAttemptAt:O} → {s.NextAttemptAt:O}"));
        // The real queue holds exactly the scheduled messages (the simulation does not consume them: they are still delayed in real time).
        Assert.Equal(host.Requeued, await host.MessagesOnQueueAsync() + host.Drained);
        await app.AssertAllAsync();
    }
}

/// <summary>
/// What the Functions host does with one queue, in shifted time: a message is invoked when it
/// becomes visible; an invocation that throws brings it back after host.json's visibilityTimeout
/// and, at maxDequeueCount, hands it to the poison function; a message the app sends to the queue
/// (a retry it schedules) becomes visible when the delivery row says its next attempt is due.
/// </summary>
public sealed class SimulatedQueueHost(TestApp app)
{
    private const int MaxDequeueCount = 5;
    private static readonly TimeSpan VisibilityTimeout = TimeSpan.FromSeconds(30);

    private readonly List<InFlight> _pending = [];

    public List<string> Poisoned { get; } = [];
    public List<Schedule> Schedules { get; } = [];
    public int Requeued { get; private set; }
    public int Invocations { get; private set; }
    public int Thrown { get; private set; }
    public int MostInFlightPerTicket { get; private set; }

    /// <summary>Scheduled retries taken off the real queue once their real-time delay had passed.</summary>
    public int Drained { get; private set; }

    public void Add(string message) => _pending.Add(new InFlight(message, app.Clock.GetUtcNow(), 0));

    public async Task RunAsync(TimeSpan limit, Action<TimeSpan> beforeEach)
    {
        var start = app.Clock.GetUtcNow();
        while (_pending.Count > 0)
        {
            MostInFlightPerTicket = Math.Max(MostInFlightPerTicket, _pending.GroupBy(m => m.Text).Max(g => g.Count()));
            var next = _pending.MinBy(m => m.VisibleAt)!;
            _pending.Remove(next);
            var wait = next.VisibleAt - app.Clock.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                app.Clock.Advance(wait);
            }

            var elapsed = app.Clock.GetUtcNow() - start;
            Assert.True(elapsed < limit, $"Tickets still in flight after {elapsed}.");
            beforeEach(elapsed);

            // The real queue's delays run in real time: on a slow machine an earlier retry's delay
            // (24 s and more) passes while the test runs and that message becomes visible. Take
            // those off first, so what is visible after this invocation is only what it sent.
            await DrainVisibleAsync();
            var invoked = DateTimeOffset.UtcNow;
            var before = await MessagesOnQueueAsync();
            Invocations++;
            try
            {
                await app.DeliverAsync(next.Text);
            }
            catch (Exception)
            {
                Thrown++;
                if (next.DequeueCount + 1 >= MaxDequeueCount)
                {
                    Poisoned.Add(next.Text);
                    await app.Function<RecordPoisonedTicketFunction>().RecordPoisonedTicket(next.Text, CancellationToken.None);
                }
                else
                {
                    _pending.Add(next with { VisibleAt = app.Clock.GetUtcNow() + VisibilityTimeout, DequeueCount = next.DequeueCount + 1 });
                }

                continue;
            }

            var sent = await MessagesOnQueueAsync() - before;
            Assert.InRange(sent, 0, 1);
            if (sent == 1)
            {
                Requeued++;
                var registrationId = TestApp.ParseQueueMessage(next.Text)!.RegistrationId;
                // Delayed on the real queue: nothing this invocation sent is visible. (The queue
                // keeps insertion times to the second; every retry delay is far longer.)
                var sentSince = invoked.AddTicks(-(invoked.Ticks % TimeSpan.TicksPerSecond));
                Assert.DoesNotContain((await app.TicketQueueClient().PeekMessagesAsync(32)).Value, m => m.InsertedOn >= sentSince);
                var schedule = (await app.QueryAsync<Schedule>("""
                    select last_attempt_at as lastattemptat, next_attempt_at as nextattemptat, coalesce(last_error, '') as lasterror
                      from ticket_deliveries where registration_id = @registrationId
                    """, new { registrationId })).Single();
                Schedules.Add(schedule);
                _pending.Add(new InFlight(next.Text, new DateTimeOffset(DateTime.SpecifyKind(schedule.NextAttemptAt, DateTimeKind.Utc)), 0));
            }
        }
    }

    private async Task DrainVisibleAsync()
    {
        var queue = app.TicketQueueClient();
        while (true)
        {
            var visible = (await queue.ReceiveMessagesAsync(32, TimeSpan.FromMinutes(5))).Value;
            if (visible.Length == 0)
            {
                return;
            }

            foreach (var message in visible)
            {
                await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt);
                Drained++;
            }
        }
    }

    /// <summary>Visible and delayed messages alike.</summary>
    public Task<int> MessagesOnQueueAsync() => app.MessagesOnQueueAsync();

    private sealed record InFlight(string Text, DateTimeOffset VisibleAt, int DequeueCount);

    public sealed record Schedule(DateTime LastAttemptAt, DateTime NextAttemptAt, string LastError);
}
