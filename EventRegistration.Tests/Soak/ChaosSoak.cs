using System.Collections.Concurrent;
using Dapper;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Soak;

/// <summary>
/// Thousands of mixed operations against one database — orders, checkout confirmations,
/// duplicated and out-of-order webhooks, replays, duplicate payments, refunds — in an order
/// drawn from a seed, run by concurrent workers while database connections are killed.
/// Operations answered 503 are retried as Razorpay or a browser would.
/// </summary>
public sealed class ChaosSoak(TestApp app, int seed, int members)
{
    private const long Price = 10_000;

    public sealed record Report(
        int Seed, int Operations, int Journeys, int Retries, int ConnectionsKilled, int UnexpectedAnswers,
        long Paid, long RefundDue, long Refunded, long PaymentsRecorded, long Anomalies, long ExpectedPaidUncapped, long PaidUncapped,
        IReadOnlyList<string> Unexpected);

    private sealed record Operation(string Name, Func<Task<HttpAnswer>> Call, int[] Expected);

    private int _retries;
    private int _kills;

    public async Task<Report> RunAsync()
    {
        var random = new Random(seed);
        var uncapped = await app.CreateEventAsync(capacity: null, pricePaise: Price);
        var roomy = await app.CreateEventAsync(capacity: 1_000, pricePaise: Price);
        var tight = await app.CreateEventAsync(capacity: 25, pricePaise: Price);
        Guid[] events = [uncapped, roomy, tight];

        // Phase 1: the plan, and every order (an order must exist before anything pays for it).
        var journeys = new List<(Guid EventId, Guid MemberId, bool Pays, bool Refund, bool Duplicate, bool LateFailure, int Checkouts, int Webhooks, bool FailedFirst)>();
        for (var m = 0; m < members; m++)
        {
            var memberId = await app.CreateMemberAsync(phone: "+9198" + (10_000_000 + m).ToString(System.Globalization.CultureInfo.InvariantCulture));
            foreach (var eventId in events.Where(_ => random.NextDouble() < 0.5))
            {
                journeys.Add((eventId, memberId,
                    Pays: random.NextDouble() < 0.85,
                    Refund: eventId == uncapped && random.NextDouble() < 0.15,
                    Duplicate: random.NextDouble() < 0.1,
                    LateFailure: random.NextDouble() < 0.1,
                    Checkouts: random.Next(0, 3),
                    Webhooks: random.Next(1, 4),
                    FailedFirst: random.NextDouble() < 0.2));
            }
        }

        var unexpected = new ConcurrentBag<string>();
        var orders = new ConcurrentDictionary<int, string>();
        var operations = 0;
        var orderOperations = Shuffle(random, journeys.Select((j, i) => new Operation($"order {i}", async () =>
        {
            var answer = await app.CreateOrderAsync(j.EventId, j.MemberId);
            if (answer.Status is 200 or 201)
            {
                orders[i] = answer.Json.GetProperty("orderId").GetString()!;
            }

            return answer;
        }, j.EventId == tight ? [200, 201, 409] : [200, 201])).ToList());

        // Half the orders, then the seat holds lapse, then the other half: the tight event ends up
        // with more orders than seats, so late payments compete and some become refund_due.
        var half = orderOperations.Count / 2;
        await RunConcurrentlyAsync(orderOperations[..half], unexpected, () => Interlocked.Increment(ref operations), killConnections: false);
        app.Clock.Advance(TimeSpan.FromMinutes(16));
        await RunConcurrentlyAsync(orderOperations[half..], unexpected, () => Interlocked.Increment(ref operations), killConnections: false);

        // Phase 2: payments, delivered by checkout and webhook, repeated and out of order.
        var payments = new Dictionary<int, string>();
        var phase2 = new List<Operation>();
        var phase3 = new List<Operation>();
        for (var index = 0; index < journeys.Count; index++)
        {
            var i = index; // each operation keeps its own journey number
            var j = journeys[i];
            if (!j.Pays || !orders.TryGetValue(i, out var orderId))
            {
                continue;
            }

            var paymentId = $"pay_S{seed}x{i}";
            payments[i] = paymentId;
            if (j.FailedFirst)
            {
                var failedId = $"pay_F{seed}x{i}";
                phase2.Add(new($"failed attempt {i}", () => app.WebhookAsync(Webhook.Payment("payment.failed", failedId, orderId, Price, "failed", errorCode: "BAD_REQUEST_ERROR"), $"evt_F{seed}x{i}"), [200]));
            }

            for (var c = 0; c < j.Checkouts; c++)
            {
                phase2.Add(new($"checkout {i}", () => app.ConfirmAsync(orderId, paymentId), [200]));
            }

            var captured = Webhook.Payment(random.NextDouble() < 0.5 ? "payment.captured" : "order.paid", paymentId, orderId, Price, "captured");
            for (var w = 0; w < j.Webhooks; w++)
            {
                var eventId = random.NextDouble() < 0.5 ? $"evt_C{seed}x{i}" : $"evt_C{seed}x{i}r{w}";
                phase2.Add(new($"webhook {i}", () => app.WebhookAsync(captured, eventId), [200]));
            }

            phase2.Add(new($"authorized {i}", () => app.WebhookAsync(Webhook.Payment("payment.authorized", paymentId, orderId, Price, "authorized"), $"evt_A{seed}x{i}"), [200]));
            if (j.LateFailure)
            {
                phase3.Add(new($"late failure {i}", () => app.WebhookAsync(Webhook.Payment("payment.failed", paymentId, orderId, Price, "failed", errorCode: "GATEWAY_ERROR"), $"evt_L{seed}x{i}"), [200]));
            }

            if (j.Duplicate)
            {
                var duplicateId = $"pay_D{seed}x{i}";
                phase3.Add(new($"duplicate payment {i}", () => app.WebhookAsync(Webhook.Payment("payment.captured", duplicateId, orderId, Price, "captured"), $"evt_D{seed}x{i}"), [200]));
            }

            if (j.Refund)
            {
                var refund = Webhook.Refund("refund.processed", $"rfnd_R{seed}x{i}", paymentId, Price);
                phase3.Add(new($"refund {i}", () => app.WebhookAsync(refund, $"evt_R{seed}x{i}"), [200]));
                phase3.Add(new($"refund again {i}", () => app.WebhookAsync(refund, $"evt_R{seed}x{i}b"), [200]));
            }
        }

        await RunConcurrentlyAsync(Shuffle(random, phase2), unexpected, () => Interlocked.Increment(ref operations), killConnections: true);
        await RunConcurrentlyAsync(Shuffle(random, phase3), unexpected, () => Interlocked.Increment(ref operations), killConnections: true);

        await using var connection = app.OpenConnection();
        var expectedPaidUncapped = journeys.Where((j, i) => j.EventId == uncapped && j.Pays && !j.Refund && orders.ContainsKey(i)).LongCount();
        return new Report(
            seed, operations, journeys.Count, _retries, _kills, unexpected.Count,
            Paid: await connection.ExecuteScalarAsync<long>("select count(*) from event_registrations where status = 'paid'"),
            RefundDue: await connection.ExecuteScalarAsync<long>("select count(*) from event_registrations where status = 'refund_due'"),
            Refunded: await connection.ExecuteScalarAsync<long>("select count(*) from event_registrations where status = 'refunded'"),
            PaymentsRecorded: await connection.ExecuteScalarAsync<long>("select count(*) from payments"),
            Anomalies: await connection.ExecuteScalarAsync<long>("select count(*) from anomalies"),
            ExpectedPaidUncapped: expectedPaidUncapped,
            PaidUncapped: await connection.ExecuteScalarAsync<long>("select count(*) from event_registrations where event_id = @uncapped and status = 'paid'", new { uncapped }),
            Unexpected: unexpected.Take(20).ToList());
    }

    private async Task RunConcurrentlyAsync(List<Operation> operations, ConcurrentBag<string> unexpected, Action counted, bool killConnections)
    {
        using var stop = new CancellationTokenSource();
        var killer = killConnections ? KillConnectionsAsync(stop.Token) : Task.CompletedTask;
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < operations.Count)
            {
                var operation = operations[i];
                counted();
                var answer = await operation.Call();
                for (var attempt = 0; answer.Status == 503 && attempt < 20; attempt++)
                {
                    Interlocked.Increment(ref _retries);
                    await Task.Delay(20);
                    answer = await operation.Call();
                }

                if (!operation.Expected.Contains(answer.Status))
                {
                    unexpected.Add($"{operation.Name}: {answer}");
                }
            }
        })));
        await stop.CancelAsync();
        await killer;
    }

    /// <summary>Terminates one of the app's database sessions every few milliseconds, as a failover or network cut would.</summary>
    private async Task KillConnectionsAsync(CancellationToken stop)
    {
        var random = new Random(seed);
        await using var connection = app.OpenConnection();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(random.Next(20, 80), stop);
                var killed = await connection.ExecuteScalarAsync<bool?>("""
                    select pg_terminate_backend(pid) from pg_stat_activity
                     where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'
                     order by random() limit 1
                    """);
                if (killed == true)
                {
                    Interlocked.Increment(ref _kills);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static List<T> Shuffle<T>(Random random, IEnumerable<T> items)
    {
        var list = items.ToList();
        for (var i = list.Count - 1; i > 0; i--)
        {
            var k = random.Next(i + 1);
            (list[i], list[k]) = (list[k], list[i]);
        }

        return list;
    }
}
