using System.Diagnostics;
using System.Text;
using Azure.Storage.Queues;
using Dapper;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;
using Npgsql;

namespace EventRegistration.Benchmarks;

public sealed record PacedTicketsResult(string Summary, string Markdown, string ConsoleLine);

/// <summary>
/// A big event opening: thousands of queued tickets delivered through the real DeliverTicket
/// function by two simulated instances (each pulling from the real queue as the Functions host
/// does with host.json's batchSize and newBatchThreshold: a batch received in one request, the
/// next once few enough are left running; each message deleted when its invocation returns, left
/// to reappear when it throws; delayed retries become visible when due), against a WhatsApp fake that enforces
/// 80 messages a second and the pair rate, answering 130429 / 131056 beyond them.
/// </summary>
public static class PacedTicketsBenchmark
{
    private const int Instances = 2;

    /// <param name="rate">WhatsApp__MessagesPerSecond and the fake's limit alike (80 for the target row).</param>
    /// <param name="backlog">
    /// 0: every ticket's message on the queue before the clock starts (the issue's row). N: N of them
    /// first, and the rest fed in as the queue drains below N/2 (`--paced-backlog N`). Azurite keeps
    /// messages in one LokiJS collection whose indexes it updates on every dequeue at a cost that grows
    /// with the messages held: marking 8 messages dequeued costs 11 ms among 1,000 and 173 ms among
    /// 10,000 (docs/benchmarks-notes.md), so 10,000 waiting held the run to 7-17 tickets/s here,
    /// which Azure Storage does not; the feeder keeps the emulator out of the measurement while the
    /// database still holds every ticket as owed.
    /// </param>
    public static async Task<PacedTicketsResult> RunAsync(int tickets, int rate, int backlog = 0)
    {
        var world = new PacedApp(rate);
        await world.InitializeAsync();
        try
        {
            return await RunAsync(world, tickets, rate, backlog);
        }
        finally
        {
            await world.DisposeAsync();
        }
    }

    private static async Task<PacedTicketsResult> RunAsync(TestApp world, int tickets, int rate, int backlog)
    {
        world.WhatsApp.MessagesPerSecondLimit = rate;

        var eventId = await PrepareAsync(world, tickets);
        // The queue the app sends its retries to, on the storage it is configured with; this client is the
        // simulated host's (default retries and timeouts, like the host's own), not the app's short-fused one.
        var queue = new QueueClient(Environment.GetEnvironmentVariable("EVREG_BENCH_STORAGE") is { Length: > 0 } storage ? storage : TestApp.AzuriteConnectionString,
            world.QueueName, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 });
        await queue.CreateIfNotExistsAsync();
        var ids = await world.QueryAsync<Guid>("select id from event_registrations where event_id = @eventId", new { eventId });
        var enqueue = Stopwatch.StartNew();
        var first = backlog > 0 ? ids.Take(backlog).ToList() : ids.ToList();
        await Parallel.ForEachAsync(first, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (id, ct) =>
            await queue.SendMessageAsync(new TicketDeliveryMessage(id).ToJson(), ct));
        Console.WriteLine($"paced: {first.Count} of {tickets} tickets queued in {enqueue.Elapsed.TotalSeconds:F1} s");
        var feeder = backlog > 0 ? Task.Run(async () =>
        {
            foreach (var chunk in ids.Skip(backlog).Chunk(Math.Max(1, backlog / 2)))
            {
                while ((await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount > backlog / 2)
                {
                    await Task.Delay(200);
                }

                await Parallel.ForEachAsync(chunk, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (id, ct) =>
                    await queue.SendMessageAsync(new TicketDeliveryMessage(id).ToJson(), ct));
            }
        }) : Task.CompletedTask;

        var deadline = TimeSpan.FromSeconds(Math.Max(120, 4.0 * tickets / rate));
        // This world's database, not the confirmation rows' one: its backends are the ones to count.
        var otherDatabase = CpuSample.DatabaseName;
        CpuSample.DatabaseName = new NpgsqlConnectionStringBuilder(world.ConnectionString).Database;
        using var requests = new StorageRequestCounter();
        var cpuBefore = CpuSample.Take();
        var wall = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var invocations = 0;
        var thrown = 0;
        var host = HostQueueSettings.Load();
        var workers = Enumerable.Range(0, Instances).Select(_ => Task.Run(async () =>
        {
            var function = world.Function<DeliverTicketFunction>();
            var running = new List<Task>();
            while (!stop.IsCancellationRequested)
            {
                // The host's queue listener: a batch of up to batchSize, the next fetched once no more
                // than newBatchThreshold of the invocations are still running.
                running.RemoveAll(t => t.IsCompleted);
                if (running.Count > host.NewBatchThreshold)
                {
                    await Task.WhenAny(running);
                    continue;
                }

                var messages = (await queue.ReceiveMessagesAsync(host.BatchSize, TimeSpan.FromSeconds(30))).Value;
                if (messages.Length == 0)
                {
                    await Task.Delay(200);
                    continue;
                }

                foreach (var message in messages)
                {
                    running.Add(Task.Run(async () =>
                    {
                        Interlocked.Increment(ref invocations);
                        try
                        {
                            await function.DeliverTicket(message.MessageText, CancellationToken.None);
                            await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt);
                        }
                        catch (Exception)
                        {
                            // Left on the queue: it comes back after the visibility timeout, as with the host.
                            Interlocked.Increment(ref thrown);
                        }
                    }));
                }
            }

            await Task.WhenAll(running);
        })).ToList();

        double? allSentAt = null;
        var progress = new StringBuilder();
        await using (var connection = new NpgsqlConnection(world.ConnectionString))
        {
            while (wall.Elapsed < deadline)
            {
                await Task.Delay(1000);
                var sent = await connection.ExecuteScalarAsync<int>(
                    "select count(*) from ticket_deliveries d join event_registrations r on r.id = d.registration_id where r.event_id = @eventId and d.status = 'sent'",
                    new { eventId });
                // EVREG_BENCH_PACED_EVERY_SECOND=1: a line a second, to see a stall's start and end.
                if ((int)wall.Elapsed.TotalSeconds % 15 == 0 || Environment.GetEnvironmentVariable("EVREG_BENCH_PACED_EVERY_SECOND") == "1")
                {
                    Console.WriteLine($"paced: {wall.Elapsed.TotalSeconds:F0} s: {sent} sent, 130429 so far {world.WhatsApp.ThroughputRefusals}, invocations {invocations}, thrown {thrown}, at {DateTime.UtcNow:HH:mm:ss}");
                }

                if (sent == tickets)
                {
                    allSentAt = wall.Elapsed.TotalSeconds;
                    break;
                }
            }
        }

        var cpu = CpuSample.Take() - cpuBefore;
        var cpuWall = wall.Elapsed.TotalSeconds;
        CpuSample.DatabaseName = otherDatabase;
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        await feeder;

        var accepted = world.WhatsApp.Sent.Count;
        var attempts = world.WhatsApp.SendAttempts.Count;
        var duplicates = world.WhatsApp.Sent.GroupBy(s => s.Body["to"]!.GetValue<string>()).Sum(g => g.Count() - 1);
        var states = (await world.QueryAsync<(string Status, int Count, int Attempts)>(
            "select d.status, count(*)::int, coalesce(max(d.attempts), 0) from ticket_deliveries d join event_registrations r on r.id = d.registration_id where r.event_id = @eventId group by d.status",
            new { eventId })).ToList();
        var throughputRefusals = world.WhatsApp.ThroughputRefusals;
        var refusalShare = attempts == 0 ? 0 : (double)throughputRefusals / attempts;
        var ideal = tickets / (double)rate;

        var markdown = new StringBuilder();
        markdown.AppendLine($"{tickets:N0} paid registrations with `queued` deliveries on the real queue, delivered by {Instances} simulated instances pulling as the host does with host.json's queue settings (up to batchSize={host.BatchSize} messages a receive, the next batch once no more than newBatchThreshold={host.NewBatchThreshold} invocations are running; each message deleted when `DeliverTicket` returns; a thrown invocation's message comes back after 30 s), with `WhatsApp__MessagesPerSecond`={rate}; the WhatsApp fake accepts at most {rate} messages in any one second (130429 beyond) and one message per recipient per 6 s (131056).{(backlog > 0 ? $" Queue fed: {backlog:N0} messages first, the rest in steps of {backlog / 2:N0} whenever fewer than {backlog / 2:N0} waited (`--paced-backlog`; every ticket was `queued` in the database from the start)." : "")} Azurite runs with its periodic extent GC postponed past the run: each pass stopped it for tens of seconds once the queue had moved thousands of messages, which Azure Storage does not do (docs/benchmarks-notes.md).");
        markdown.AppendLine();
        markdown.AppendLine("| tickets | limit /s | all sent after | ideal (tickets ÷ limit) | send requests | accepted | 130429 answers | share of sends | most accepted in any 1 s | 131056 answers | duplicates | invocations | thrown | final states |");
        markdown.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        markdown.AppendLine($"| {tickets:N0} | {rate} | {(allSentAt is { } t ? $"{t:F1} s" : $"not within {deadline.TotalSeconds:F0} s")} | {ideal:F0} s | {attempts:N0} | {accepted:N0} | {throughputRefusals} | {refusalShare:P2} | {world.WhatsApp.PeakAcceptedPerSecond} | {world.WhatsApp.PairRateRefusals} | {duplicates} | {invocations:N0} | {thrown} | {string.Join(", ", states.Select(s => $"{s.Count} {s.Status} (max {s.Attempts} attempts)"))} |");

        var sentCount = states.Where(st => st.Status == "sent").Sum(st => st.Count);
        markdown.AppendLine();
        markdown.AppendLine($"CPU while delivering, per ticket sent (ms): benchmark process (app, fakes, simulated host) / PostgreSQL (this world's backends) / Azurite: {(sentCount == 0 ? "—" : cpu.PerRequest(sentCount))}; all three together used {(cpu.AppMs + cpu.PostgresMs + cpu.AzuriteMs) / 1000 / cpuWall:F2} cores on average over {cpuWall:F0} s (the machine has {Environment.ProcessorCount}).");

        markdown.AppendLine();
        markdown.AppendLine($"Storage requests per ticket sent (the app's and the simulated host's, counted by .NET's HTTP client metrics; method and status): {(sentCount == 0 ? "—" : requests.PerTicket(sentCount))}.");

        var target = ideal * 1.2;
        var met = allSentAt is { } seconds && seconds <= target && refusalShare <= 0.01 && duplicates == 0;
        // The issue's target is the 10,000-ticket row at 80/s (`./dev bench`); a smaller row is scaled to
        // it, but the two instances' start weighs ten times more on 1,000 tickets, so it only indicates.
        string Verdict() => tickets == 10_000 && rate == 80
            ? met ? "met" : "missed"
            : $"{(met ? "within" : "over")} the scaled bound (indicative: the target is measured on 10,000 tickets at 80/s by `./dev bench`)";
        var summary = $"{tickets:N0} tickets at a {rate}/s limit: all sent after {(allSentAt is { } s2 ? $"{s2:F1} s" : $"— (not within {deadline.TotalSeconds:F0} s)")} (target ≤ {target:F0} s, the issue's 150 s for 10,000 at 80/s; ideal {ideal:F0} s), 130429 answers {throughputRefusals} = {refusalShare:P2} of {attempts:N0} sends (target ≤ 1 %), duplicates {duplicates} (target 0): **{Verdict()}**.";
        var line = $"paced: {tickets} tickets at {rate}/s, all sent after {allSentAt?.ToString("F1") ?? "-"} s, {attempts} sends, 130429 x {throughputRefusals}, most accepted in 1 s {world.WhatsApp.PeakAcceptedPerSecond}, 131056 x {world.WhatsApp.PairRateRefusals}, duplicates {duplicates}, thrown {thrown}, CPU ms/ticket app+fakes/PostgreSQL/Azurite {(sentCount == 0 ? "-" : cpu.PerRequest(sentCount))}, {(cpu.AppMs + cpu.PostgresMs + cpu.AzuriteMs) / 1000 / cpuWall:F2} cores, storage requests/ticket {(sentCount == 0 ? "-" : requests.PerTicket(sentCount))}";
        return new PacedTicketsResult(summary, markdown.ToString(), line);
    }

    private static async Task<Guid> PrepareAsync(TestApp app, int count)
    {
        await using var connection = new NpgsqlConnection(app.ConnectionString);
        var eventId = Guid.NewGuid();
        await connection.ExecuteAsync("""
            insert into events (id, title, starts_at, capacity, price_paise, currency, status, attendee_count)
            values (@eventId, 'Bench opening night', now() + interval '30 days', null, 10000, 'INR', 'open', @count);
            with m as (
                insert into members (id, name, phone_e164)
                select gen_random_uuid(), 'Bench member ' || n, '+9197' || (10000000 + n)::text from generate_series(1, @count) n
                returning id
            ), r as (
                insert into event_registrations (id, event_id, member_id, status, order_id, payment_id, amount_paise, currency, paid_at, confirmed_by)
                select gen_random_uuid(), @eventId, id, 'paid', 'order_P' || replace(id::text, '-', ''), 'pay_P' || replace(id::text, '-', ''), 10000, 'INR', now(), 'checkout'
                  from m
                returning id
            )
            insert into ticket_deliveries (registration_id, status) select id, 'queued' from r;
            """, new { eventId, count }, commandTimeout: 120);
        return eventId;
    }

    /// <summary>A world of its own (database, queue, fakes) with WhatsApp's default pace.</summary>
    private sealed class PacedApp(int rate) : TestApp
    {
        protected override void Configure(IDictionary<string, string?> settings)
        {
            settings["WhatsApp:MessagesPerSecond"] = rate.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (Environment.GetEnvironmentVariable("EVREG_BENCH_STORAGE") is { Length: > 0 } storage)
            {
                settings["AzureWebJobsStorage"] = storage;
            }
        }
    }
}
