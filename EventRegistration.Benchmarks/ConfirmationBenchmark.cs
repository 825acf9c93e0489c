using System.Diagnostics;
using Azure.Storage.Queues;
using Dapper;
using EventRegistration.Functions.Confirmation;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace EventRegistration.Benchmarks;

public enum Spread
{
    HotEvent,
    ThousandEvents,
}

public sealed record Measurement(int Requests, TimeSpan Elapsed, double[] LatenciesMs, int Failures)
{
    public double PerSecond => Requests / Elapsed.TotalSeconds;
    public double P(double percentile)
    {
        if (LatenciesMs.Length == 0) return double.NaN;
        var sorted = LatenciesMs.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(percentile / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}

/// <summary>
/// Confirmations through the real function (HttpRequest → ConfirmCheckout → PostgreSQL → queue)
/// against the same SQL transaction run bare on its own sessions, on the same server.
/// </summary>
public sealed class ConfirmationBenchmark(TestApp app, string connectionString)
{
    private int _batch;
    private readonly HashSet<Spread> _analyzed = [];

    /// <summary>Pending registrations with orders, ready to be confirmed; events are reused per spread.</summary>
    public async Task<List<string>> PrepareAsync(Spread spread, int count)
    {
        var batch = Interlocked.Increment(ref _batch);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var eventIds = await EventsAsync(connection, spread);
        await connection.ExecuteAsync("""
            with m as (
                insert into members (id, name, phone_e164)
                select gen_random_uuid(), 'Bench member', '+919800000000' from generate_series(1, @count)
                returning id
            ), numbered as (select id, row_number() over () as n from m)
            insert into event_registrations (id, event_id, member_id, status, order_id, amount_paise, currency, hold_expires_at)
            select gen_random_uuid(), (@eventIds)[1 + (n % array_length(@eventIds, 1))], id, 'pending',
                   'order_B' || @batch || 'x' || n, 10000, 'INR', now() + interval '1 day'
              from numbered
            """, new { count, eventIds, batch });

        // A production table has planner statistics; a freshly filled one gets them once, on its
        // spread's first batch (the warm-up's), and from then on from autovacuum, as in production.
        // Not before every measurement: an ANALYZE invalidates every session's cached plans, and each
        // measurement then began with about a second at two thirds of its throughput (the function's
        // and the bare transaction's alike), which was most of the hot event's p99 (benchmarks-notes.md).
        if (_analyzed.Add(spread))
        {
            await connection.ExecuteAsync("analyze events; analyze members; analyze event_registrations; analyze payments; analyze ticket_deliveries");
        }

        // The checkpoint keeps the previous row's writes from being flushed during the next row.
        await connection.ExecuteAsync("checkpoint", commandType: System.Data.CommandType.Text);
        return Enumerable.Range(1, count).Select(n => $"order_B{batch}x{n}").ToList();
    }

    /// <summary>Where the server's WAL ends, in bytes: two reads apart are what was written between them.</summary>
    public async Task<long> WalPositionAsync()
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        return await connection.ExecuteScalarAsync<long>("select (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint");
    }

    private static async Task<Guid[]> EventsAsync(NpgsqlConnection connection, Spread spread)
    {
        var title = spread == Spread.HotEvent ? "Bench hot event" : "Bench spread event";
        var wanted = spread == Spread.HotEvent ? 1 : 1000;
        var existing = (await connection.QueryAsync<Guid>("select id from events where title = @title", new { title })).ToArray();
        if (existing.Length == wanted)
        {
            return existing;
        }

        return (await connection.QueryAsync<Guid>("""
            insert into events (id, title, starts_at, capacity, price_paise, currency, status)
            select gen_random_uuid(), @title, now() + interval '30 days', null, 10000, 'INR', 'open' from generate_series(1, @wanted)
            returning id
            """, new { title, wanted })).ToArray();
    }

    /// <summary>Each caller sends one checkout confirmation after another, as browsers would.</summary>
    public async Task<Measurement> ThroughFunctionAsync(IReadOnlyList<string> orders, int callers)
    {
        var function = app.Function<ConfirmCheckoutFunction>();
        var payments = orders.Select((_, i) => $"pay_B{Guid.NewGuid():N}"[..24]).ToArray();
        var latencies = new double[orders.Count];
        var failures = 0;
        var next = -1;
        var starts = new long[orders.Count];
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < orders.Count)
            {
                var body = $$"""{"razorpay_order_id":"{{orders[i]}}","razorpay_payment_id":"{{payments[i]}}","razorpay_signature":"{{TestApp.CheckoutSignature(orders[i], payments[i])}}"}""";
                var started = starts[i] = Stopwatch.GetTimestamp();
                var request = TestApp.Request(body);
                var answer = await TestApp.ExecuteAsync(request, await function.ConfirmCheckout(request));
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (answer.Status != 200)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        })));
        wall.Stop();
        LatencyLog.Append("function", callers, starts, latencies);
        return new Measurement(orders.Count, wall.Elapsed, latencies, failures);
    }

    /// <summary>
    /// Empties the ticket queue the measurements fill (nobody consumes it here). Azurite keeps every
    /// queue's messages in one in-memory store: with the confirmation rows' ~10,000 messages left in
    /// it, the paced ticket row of one run cost Azurite 48.9 ms of CPU per ticket against about 8 ms
    /// in a run of its own. Each row now starts from an empty queue, as the first one did.
    /// </summary>
    public async Task ClearTicketQueueAsync()
    {
        var queue = app.Services.GetRequiredService<TicketQueue>().Client;
        // The app's client gives up after 3 s, which a loaded Azurite clearing a few thousand
        // messages can exceed (it ended two runs at 05:15 UTC); the benchmark's own client waits.
        if (Environment.GetEnvironmentVariable("EVREG_BENCH_STORAGE") is { Length: > 0 } storage)
        {
            queue = new QueueClient(storage, queue.Name, new QueueClientOptions { Retry = { NetworkTimeout = TimeSpan.FromSeconds(120) } });
        }

        if (await queue.ExistsAsync())
        {
            await queue.ClearMessagesAsync();
        }
    }

    /// <summary>
    /// The ceiling: the confirmation's own SQL (payment lock, event and registration locks,
    /// writes, commit), one session per caller, no application in between. Sent as a straightforward
    /// transaction (four round trips: BEGIN and the lock timeout, reads, writes, COMMIT), which is the
    /// issue's ceiling; the function sends the same statements in two (<c>OpenTransaction</c>).
    /// </summary>
    /// <param name="thenSend">
    /// The second ceiling: after each commit, one bare <c>SendMessage</c> of the same message through
    /// the app's own queue client (what the design requires after commit, and nothing else).
    /// </param>
    public async Task<Measurement> BareTransactionAsync(IReadOnlyList<string> orders, int sessions, bool thenSend = false)
    {
        var queue = app.Services.GetRequiredService<TicketQueue>().Client;
        if (thenSend)
        {
            await queue.CreateIfNotExistsAsync();
        }

        var latencies = new double[orders.Count];
        var failures = 0;
        var next = -1;
        // 100 sessions queueing on one event row on a loaded machine can wait longer than the tests' 30 s.
        var bare = new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = sessions + 10, CommandTimeout = 300 }.ConnectionString;
        // Opened before the clock starts: the ceiling is the transaction, not sessions starting.
        var connections = await Task.WhenAll(Enumerable.Range(0, sessions).Select(async _ =>
        {
            var connection = new NpgsqlConnection(bare);
            await connection.OpenAsync();
            return connection;
        }));
        var starts = new long[orders.Count];
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(connections.Select(connection => Task.Run(async () =>
        {
            await using var _ = connection;
            int i;
            while ((i = Interlocked.Increment(ref next)) < orders.Count)
            {
                var started = starts[i] = Stopwatch.GetTimestamp();
                var paymentId = $"pay_C{Guid.NewGuid():N}"[..24];
                try
                {
                    await using var transaction = await connection.BeginTransactionAsync();
                    await connection.ExecuteAsync("set local lock_timeout = 30000", transaction: transaction);
                    Guid eventId, registrationId;
                    await using (var read = await connection.QueryMultipleAsync(PaymentConfirmation.ReadForDecision, new { PaymentId = paymentId, OrderId = orders[i], Now = DateTime.UtcNow }, transaction))
                    {
                        await read.ReadAsync();
                        eventId = await read.ReadSingleAsync<Guid>();
                        registrationId = (await read.ReadSingleAsync<RegistrationRow>()).Id;
                        await read.ReadAsync();
                        await read.ReadAsync();
                        await read.ReadAsync();
                    }

                    await using (var written = await connection.QueryMultipleAsync(PaymentConfirmation.MarkPaidAndRecordPayment, new
                    {
                        PaymentId = paymentId, RegistrationId = registrationId, EventId = eventId, Source = "checkout", Now = DateTime.UtcNow,
                        OrderId = orders[i], AmountPaise = 10000L, Currency = "INR", Disposition = "applied", RefundStatus = (string?)null,
                    }, transaction))
                    {
                        await written.ReadSingleAsync<RegistrationRow>();
                    }

                    await transaction.CommitAsync();
                    if (thenSend)
                    {
                        await queue.SendMessageAsync(new TicketDeliveryMessage(registrationId).ToJson());
                    }
                }
                catch (NpgsqlException)
                {
                    // A refusal (PostgresException) or a timeout: counted, the session goes on.
                    Interlocked.Increment(ref failures);
                }

                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
        })));
        wall.Stop();
        LatencyLog.Append(thenSend ? "bare+send" : "bare", sessions, starts, latencies);
        return new Measurement(orders.Count, wall.Elapsed, latencies, failures);
    }
}

/// <summary>
/// EVREG_BENCH_LATENCIES=FILE: every confirmation measurement appends one line per request (phase,
/// what was measured, callers, start in ms from the measurement's first request, latency in ms, start
/// as Unix ms to line it up with other samples of the machine), so
/// a reader can see whether a tail is spread over the run or comes from one stretch of it.
/// </summary>
public static class LatencyLog
{
    private static readonly string? Path = Environment.GetEnvironmentVariable("EVREG_BENCH_LATENCIES") is { Length: > 0 } path ? path : null;

    /// <summary>Set by the one flow that runs the measurements, one at a time.</summary>
    public static string Phase { get; set; } = "other";

    public static void Append(string what, int callers, long[] starts, double[] latencies)
    {
        if (Path is null || starts.Length == 0)
        {
            return;
        }

        var first = starts.Min();
        var (now, nowUnixMs) = (Stopwatch.GetTimestamp(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        File.AppendAllLines(Path, starts.Zip(latencies, (start, latency) =>
            $"{Phase},{what},{callers},{(start - first) * 1000.0 / Stopwatch.Frequency:F1},{latency:F1},{nowUnixMs - (now - start) * 1000 / Stopwatch.Frequency}"));
    }
}

/// <summary>Where one confirmation's time goes, sequentially: the transaction alone, the handler, the whole function.</summary>
public static class ConfirmationProbe
{
    public static async Task RunAsync(TestApp app, ConfirmationBenchmark benchmark)
    {
        var confirmation = app.Services.GetRequiredService<PaymentConfirmation>();
        var handler = app.Services.GetRequiredService<ConfirmCheckoutHandler>();
        var queue = app.Services.GetRequiredService<TicketQueue>();
        const int n = 400;
        for (var round = 0; round < 2; round++)
        {
            var orders = await benchmark.PrepareAsync(Spread.ThousandEvents, n);
            var sw = Stopwatch.StartNew();
            foreach (var order in orders)
            {
                await confirmation.ConfirmAsync(new PaymentReport(order, $"pay_P{Guid.NewGuid():N}"[..24], 10000, "INR", ConfirmationSource.Checkout), CancellationToken.None);
            }

            Console.WriteLine($"PaymentConfirmation.ConfirmAsync (with dispatch): {sw.Elapsed.TotalMilliseconds / n:F2} ms");
            orders = await benchmark.PrepareAsync(Spread.ThousandEvents, n);
            sw.Restart();
            foreach (var order in orders)
            {
                var pay = $"pay_P{Guid.NewGuid():N}"[..24];
                await handler.HandleAsync(order, pay, TestApp.CheckoutSignature(order, pay), CancellationToken.None);
            }

            Console.WriteLine($"ConfirmCheckoutHandler: {sw.Elapsed.TotalMilliseconds / n:F2} ms");
            sw.Restart();
            for (var i = 0; i < n; i++)
            {
                await queue.SendAsync(new TicketDeliveryMessage(Guid.NewGuid()), CancellationToken.None);
            }

            Console.WriteLine($"TicketQueue.SendAsync: {sw.Elapsed.TotalMilliseconds / n:F2} ms");
            var f = await benchmark.ThroughFunctionAsync(await benchmark.PrepareAsync(Spread.ThousandEvents, n), 1);
            Console.WriteLine($"function: {1000 / f.PerSecond:F2} ms");
            var c = await benchmark.BareTransactionAsync(await benchmark.PrepareAsync(Spread.ThousandEvents, n), 1);
            Console.WriteLine($"bare: {1000 / c.PerSecond:F2} ms");
        }
    }
}
