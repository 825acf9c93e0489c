using System.Collections.Concurrent;
using System.Diagnostics;
using Dapper;
using EventRegistration.Tests.Infrastructure;
using Npgsql;

namespace EventRegistration.Tests.Soak;

/// <summary>How big a soak to run; <see cref="FromEnvironment"/> reads what <c>./dev soak</c> passes.</summary>
/// <param name="Operations">At least this many operations: members are planned until the plan reaches it.</param>
/// <param name="Faults">At least this many injected faults, spread over the payment phases' operations.</param>
/// <param name="RefundShapes">
/// Adds the refund shapes (full, two halves, refund before capture, duplicate refunds, a mismatching
/// capture racing the checkout callback). <c>EVREG_SOAK_REFUND_SHAPES=1</c>/<c>0</c> or
/// <c>./dev soak --refund-shapes</c>/<c>--no-refund-shapes</c> choose; otherwise
/// <see cref="RefundShapesByDefault"/> does.
/// </param>
public sealed record SoakOptions(int Seed, int Operations, int Faults, bool RefundShapes)
{
    /// <summary>
    /// On: the refund ledger keeps refunds per refund id and the confirmation reads it, so every
    /// soak (CI's small one included) runs the refund shapes. Before that fix, two half refunds
    /// left paid registrations and a refund before its capture still yielded a paid seat.
    /// </summary>
    public const bool RefundShapesByDefault = true;

    public static SoakOptions FromEnvironment() => new(
        Seed: Int("EVREG_SOAK_SEED") ?? 20261125,
        Operations: Int("EVREG_SOAK_OPERATIONS") ?? 1_500,
        Faults: Int("EVREG_SOAK_FAULTS") ?? 60,
        RefundShapes: Environment.GetEnvironmentVariable("EVREG_SOAK_REFUND_SHAPES") switch
        {
            "1" or "true" or "on" => true,
            "0" or "false" or "off" => false,
            _ => RefundShapesByDefault,
        });

    private static int? Int(string name) => int.TryParse(Environment.GetEnvironmentVariable(name), out var value) ? value : null;
}

public enum RefundShape
{
    None,
    /// <summary>One refund of the whole amount; the payment entity says amount_refunded = amount, refund_status full.</summary>
    Full,
    /// <summary>Two refunds of half each (two refund ids); cumulative amount_refunded, refund_status partial then full; either may arrive first.</summary>
    TwoHalves,
    /// <summary>refund.processed arrives before the payment.captured (and checkout callback) for that payment.</summary>
    BeforeCapture,
    /// <summary>The full refund's webhook delivered three times: twice with one event id, once with another.</summary>
    DuplicateWebhooks,
    /// <summary>A payment.captured whose amount differs from the order's, racing the checkout callback for the same payment.</summary>
    MismatchRace,
}

/// <summary>
/// Thousands of mixed operations against one database — orders, checkout confirmations,
/// duplicated and out-of-order webhooks, replays, duplicate payments, refunds — in an order
/// drawn from a seed, run by concurrent workers while faults are injected: database sessions
/// killed mid-transaction and event rows held by another session. Operations answered 503 are
/// retried as Razorpay or a browser would.
/// </summary>
public sealed class ChaosSoak(TestApp app, SoakOptions options)
{
    private const long Price = 10_000;
    private const int Workers = 8;
    private const int TightCapacity = 25;

    public sealed record Report(
        SoakOptions Options, int Operations, int Journeys, int Retries, TimeSpan Duration,
        IReadOnlyDictionary<string, int> OperationsByKind, IReadOnlyDictionary<string, int> FaultsByKind,
        IReadOnlyDictionary<string, int> AnswersByKind, IReadOnlyDictionary<string, long> RegistrationsByStatus,
        IReadOnlyDictionary<RefundShape, int> JourneysByShape, IReadOnlyDictionary<string, int> ShapeOutcomes,
        long Paid, long RefundDue, long Refunded, long PaymentsRecorded, long Anomalies, long ExpectedPaidUncapped, long PaidUncapped,
        IReadOnlyList<string> Unexpected, IReadOnlyList<string> ShapeViolations,
        IReadOnlyDictionary<int, int> ConfirmationsPerTransaction, long RunAgainAlone)
    {
        public int FaultsInjected => FaultsByKind.Values.Sum();
        public int UnexpectedAnswers => Unexpected.Count;
    }

    private sealed record Operation(string Kind, int Journey, Func<Task<HttpAnswer[]>> Call, int[] Expected);

    private sealed record Journey(
        Guid EventId, Guid MemberId, bool Pays, bool Refund, bool Duplicate, bool LateFailure, int Checkouts, int Webhooks, bool FailedFirst, RefundShape Shape);

    private int _retries;
    private readonly ConcurrentDictionary<string, int> _operations = new();
    private readonly ConcurrentDictionary<string, int> _faults = new();
    private readonly ConcurrentDictionary<string, int> _answers = new();
    private readonly ConcurrentBag<string> _unexpected = [];
    private Guid[] _events = [];

    public async Task<Report> RunAsync()
    {
        // How the group commit took the confirmations: transactions by the confirmations they committed.
        using var recorded = new RecordedMeasurements(app, name => name.StartsWith("eventregistration.confirmations.", StringComparison.Ordinal));
        var clock = Stopwatch.StartNew();
        var random = new Random(options.Seed);
        var uncapped = await app.CreateEventAsync(capacity: null, pricePaise: Price);
        var roomy = await app.CreateEventAsync(capacity: 1_000, pricePaise: Price);
        var tight = await app.CreateEventAsync(capacity: TightCapacity, pricePaise: Price);
        _events = [uncapped, roomy, tight];
        RefundShape[] shapes = [RefundShape.Full, RefundShape.TwoHalves, RefundShape.BeforeCapture, RefundShape.DuplicateWebhooks, RefundShape.MismatchRace];

        // Phase 1: the plan, and every order (an order must exist before anything pays for it).
        // Members are added until the plan holds the operations asked for (with a margin for
        // orders the tight event refuses, whose journeys then pay nothing).
        var journeys = new List<Journey>();
        var planned = 0;
        var tightOrders = 0;
        for (var m = 0; planned < options.Operations * 1.1; m++)
        {
            var memberId = await app.CreateMemberAsync(phone: "+9198" + (10_000_000 + m).ToString(System.Globalization.CultureInfo.InvariantCulture));
            foreach (var eventId in _events.Where(_ => random.NextDouble() < 0.5))
            {
                var journey = new Journey(eventId, memberId,
                    Pays: random.NextDouble() < 0.85,
                    Refund: eventId == uncapped && random.NextDouble() < 0.15,
                    Duplicate: random.NextDouble() < 0.1,
                    LateFailure: random.NextDouble() < 0.1,
                    Checkouts: random.Next(0, 3),
                    Webhooks: random.Next(1, 4),
                    FailedFirst: random.NextDouble() < 0.2,
                    Shape: RefundShape.None);

                // Drawn only when enabled, so a seed plans the same journeys as before without them.
                if (options.RefundShapes && eventId == uncapped && journey.Pays && random.NextDouble() < 0.3)
                {
                    journey = journey with { Shape = shapes[random.Next(shapes.Length)], Refund = false, Duplicate = false };
                }

                journeys.Add(journey);

                // The tight event takes about two rounds of its capacity in orders (holds lapse once);
                // the journeys it refuses pay nothing.
                planned += eventId == tight && ++tightOrders > 2 * TightCapacity ? 1 : PlannedOperations(journey);
            }
        }

        var orders = new ConcurrentDictionary<int, (Guid RegistrationId, string OrderId)>();
        var orderOperations = Shuffle(random, journeys.Select((j, i) => new Operation("order", i, async () =>
        {
            var answer = await app.CreateOrderAsync(j.EventId, j.MemberId);
            if (answer.Status is 200 or 201)
            {
                orders[i] = (answer.Json.GetProperty("registrationId").GetGuid(), answer.Json.GetProperty("orderId").GetString()!);
            }

            return [answer];
        }, j.EventId == tight ? [200, 201, 409] : [200, 201])).ToList());

        // Half the orders, then the seat holds lapse, then the other half: the tight event ends up
        // with more orders than seats, so late payments compete and some become refund_due.
        var half = orderOperations.Count / 2;
        await RunConcurrentlyAsync(orderOperations[..half], faultStride: 0);
        app.Clock.Advance(TimeSpan.FromMinutes(16));
        await RunConcurrentlyAsync(orderOperations[half..], faultStride: 0);

        // Phase 2: payments, delivered by checkout and webhook, repeated and out of order;
        // refunds that overtake their capture go first. Phase 3: what comes after a capture.
        var early = new List<Operation>();
        var phase2 = new List<Operation>();
        var phase3 = new List<Operation>();
        for (var index = 0; index < journeys.Count; index++)
        {
            var i = index; // each operation keeps its own journey number
            var j = journeys[i];
            if (!j.Pays || !orders.TryGetValue(i, out var order))
            {
                continue;
            }

            var orderId = order.OrderId;
            var paymentId = $"pay_S{options.Seed}x{i}";
            if (j.FailedFirst)
            {
                var failedId = $"pay_F{options.Seed}x{i}";
                phase2.Add(WebhookOperation("failed attempt", i, Webhook.Payment("payment.failed", failedId, orderId, Price, "failed", errorCode: "BAD_REQUEST_ERROR"), $"evt_F{options.Seed}x{i}"));
            }

            if (j.Shape == RefundShape.MismatchRace)
            {
                // Razorpay reports a different amount than the order's while the browser's callback
                // (which carries no amount) arrives at the same moment.
                var mismatching = Webhook.Payment("payment.captured", paymentId, orderId, Price / 2, "captured");
                phase2.Add(new("mismatch capture racing checkout", i, async () => await Task.WhenAll(
                    WithRetriesAsync(() => app.ConfirmAsync(orderId, paymentId)),
                    WithRetriesAsync(() => app.WebhookAsync(mismatching, $"evt_M{options.Seed}x{i}"))), [200, 409]));
                continue;
            }

            if (j.Shape == RefundShape.BeforeCapture)
            {
                early.Add(WebhookOperation("refund before capture", i, RefundWebhooks.Processed($"rfnd_B{options.Seed}x{i}", paymentId, orderId, Price, Price, Price), $"evt_RB{options.Seed}x{i}"));
            }

            // A payment refunded before any capture report pays for nothing: its checkout is refused (payment-refunded).
            int[] checkoutAnswers = j.Shape == RefundShape.BeforeCapture ? [409] : [200];
            for (var c = 0; c < j.Checkouts; c++)
            {
                phase2.Add(new("checkout", i, async () => [await WithRetriesAsync(() => app.ConfirmAsync(orderId, paymentId))], checkoutAnswers));
            }

            var captured = Webhook.Payment(random.NextDouble() < 0.5 ? "payment.captured" : "order.paid", paymentId, orderId, Price, "captured");
            for (var w = 0; w < j.Webhooks; w++)
            {
                var eventId = random.NextDouble() < 0.5 ? $"evt_C{options.Seed}x{i}" : $"evt_C{options.Seed}x{i}r{w}";
                phase2.Add(WebhookOperation("captured webhook", i, captured, eventId));
            }

            phase2.Add(WebhookOperation("authorized webhook", i, Webhook.Payment("payment.authorized", paymentId, orderId, Price, "authorized"), $"evt_A{options.Seed}x{i}"));
            if (j.LateFailure)
            {
                phase3.Add(WebhookOperation("late failure", i, Webhook.Payment("payment.failed", paymentId, orderId, Price, "failed", errorCode: "GATEWAY_ERROR"), $"evt_L{options.Seed}x{i}"));
            }

            if (j.Duplicate)
            {
                var duplicateId = $"pay_D{options.Seed}x{i}";
                phase3.Add(WebhookOperation("duplicate payment", i, Webhook.Payment("payment.captured", duplicateId, orderId, Price, "captured"), $"evt_D{options.Seed}x{i}"));
            }

            if (j.Refund)
            {
                var refund = Webhook.Refund("refund.processed", $"rfnd_R{options.Seed}x{i}", paymentId, Price);
                phase3.Add(WebhookOperation("refund", i, refund, $"evt_R{options.Seed}x{i}"));
                phase3.Add(WebhookOperation("refund again", i, refund, $"evt_R{options.Seed}x{i}b"));
            }

            switch (j.Shape)
            {
                case RefundShape.Full:
                    phase3.Add(WebhookOperation("refund full", i, RefundWebhooks.Processed($"rfnd_W{options.Seed}x{i}", paymentId, orderId, Price, Price, Price), $"evt_RW{options.Seed}x{i}"));
                    break;
                case RefundShape.TwoHalves:
                    phase3.Add(WebhookOperation("refund first half", i, RefundWebhooks.Processed($"rfnd_H1{options.Seed}x{i}", paymentId, orderId, Price, Price / 2, Price / 2), $"evt_RH1{options.Seed}x{i}"));
                    phase3.Add(WebhookOperation("refund second half", i, RefundWebhooks.Processed($"rfnd_H2{options.Seed}x{i}", paymentId, orderId, Price, Price - Price / 2, Price), $"evt_RH2{options.Seed}x{i}"));
                    break;
                case RefundShape.BeforeCapture:
                    phase3.Add(WebhookOperation("refund before capture, redelivered", i, RefundWebhooks.Processed($"rfnd_B{options.Seed}x{i}", paymentId, orderId, Price, Price, Price), $"evt_RB{options.Seed}x{i}"));
                    break;
                case RefundShape.DuplicateWebhooks:
                    var body = RefundWebhooks.Processed($"rfnd_U{options.Seed}x{i}", paymentId, orderId, Price, Price, Price);
                    phase3.Add(WebhookOperation("refund duplicate", i, body, $"evt_RU{options.Seed}x{i}"));
                    phase3.Add(WebhookOperation("refund duplicate", i, body, $"evt_RU{options.Seed}x{i}"));
                    phase3.Add(WebhookOperation("refund duplicate", i, body, $"evt_RU{options.Seed}x{i}b"));
                    break;
            }
        }

        var paymentOperations = early.Count + phase2.Count + phase3.Count;
        // A fault beside every stride-th operation, a tenth more than asked for: spread evenly over
        // the payment phases however long they take on a busy machine.
        var stride = Math.Max(1, paymentOperations / Math.Max(1, options.Faults + options.Faults / 10 + 1));
        await RunConcurrentlyAsync(Shuffle(random, early), stride);
        await RunConcurrentlyAsync(Shuffle(random, phase2), stride);
        await RunConcurrentlyAsync(Shuffle(random, phase3), stride);
        clock.Stop();

        // Only sessions at work were killed, but a kill that raced a session going idle in the
        // test's own pool would surface on the next read: start the reads on fresh sessions.
        NpgsqlConnection.ClearAllPools();
        await using var connection = app.OpenConnection();
        var registrations = (await connection.QueryAsync<(Guid Id, string Status)>("select id, status from event_registrations")).ToDictionary(r => r.Id, r => r.Status);
        var dispositions = (await connection.QueryAsync<(string PaymentId, string Disposition)>("select payment_id, disposition from payments")).ToDictionary(p => p.PaymentId, p => p.Disposition);

        // What each refund shape must end as once the ledger handles it: refunded in whole → not
        // paid; the mismatching capture decided the same way whichever report came first.
        var shapeOutcomes = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var violations = new List<string>();
        var mismatchOutcomes = new HashSet<string>(StringComparer.Ordinal);
        var mismatchRegistrations = new HashSet<Guid>();
        for (var i = 0; i < journeys.Count; i++)
        {
            var j = journeys[i];
            if (j.Shape == RefundShape.None || !orders.TryGetValue(i, out var order))
            {
                continue;
            }

            var status = registrations[order.RegistrationId];
            var disposition = dispositions.GetValueOrDefault($"pay_S{options.Seed}x{i}", "none");
            shapeOutcomes[$"{j.Shape}: registration {status}, payment {disposition}"] = shapeOutcomes.GetValueOrDefault($"{j.Shape}: registration {status}, payment {disposition}") + 1;
            if (j.Shape == RefundShape.MismatchRace)
            {
                mismatchOutcomes.Add($"registration {status}, payment {disposition}");
                mismatchRegistrations.Add(order.RegistrationId);
            }
            else if (status == "paid")
            {
                violations.Add($"journey {i} ({j.Shape}): the whole payment was refunded, yet the registration is paid");
            }
        }

        if (mismatchOutcomes.Count > 1)
        {
            violations.Add($"a mismatching capture racing the checkout callback ended differently by arrival order: {string.Join(" | ", mismatchOutcomes)}");
        }

        var expectedPaidUncapped = journeys.Where((j, i) => j.EventId == uncapped && j.Pays && !j.Refund && j.Shape == RefundShape.None && orders.ContainsKey(i)).LongCount();
        var paidUncapped = journeys.Select((j, i) => (j, i))
            .Where(x => x.j.EventId == uncapped && orders.TryGetValue(x.i, out var o) && !mismatchRegistrations.Contains(o.RegistrationId) && registrations[o.RegistrationId] == "paid")
            .LongCount();

        return new Report(
            options, _operations.Values.Sum(), journeys.Count, _retries, clock.Elapsed,
            Sorted(_operations), Sorted(_faults), Sorted(_answers),
            registrations.Values.GroupBy(s => s).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.LongCount()),
            journeys.Where((_, i) => orders.ContainsKey(i)).GroupBy(j => j.Shape).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count()),
            shapeOutcomes,
            Paid: registrations.Values.LongCount(s => s == "paid"),
            // The late payments a full event turned away (a payment of the wrong amount is refund_due too, for another reason).
            RefundDue: await connection.ExecuteScalarAsync<long>("select count(*) from event_registrations where status = 'refund_due' and refund_reason = 'event_full'"),
            Refunded: registrations.Values.LongCount(s => s == "refunded"),
            PaymentsRecorded: dispositions.Count,
            Anomalies: await connection.ExecuteScalarAsync<long>("select count(*) from anomalies"),
            ExpectedPaidUncapped: expectedPaidUncapped,
            PaidUncapped: paidUncapped,
            Unexpected: _unexpected.Take(20).ToList(),
            ShapeViolations: violations.Take(20).ToList(),
            ConfirmationsPerTransaction: recorded.Values("eventregistration.confirmations.per_transaction")
                .GroupBy(n => (int)n).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count()),
            RunAgainAlone: recorded.Values("eventregistration.confirmations.run_again_alone").Sum());
    }

    private static int PlannedOperations(Journey j) => 1 + (!j.Pays ? 0 : j.Shape switch
    {
        RefundShape.MismatchRace => 1,
        _ => (j.FailedFirst ? 1 : 0) + j.Checkouts + j.Webhooks + 1 + (j.LateFailure ? 1 : 0) + (j.Duplicate ? 1 : 0) + (j.Refund ? 2 : 0)
             + j.Shape switch { RefundShape.Full => 1, RefundShape.TwoHalves => 2, RefundShape.BeforeCapture => 2, RefundShape.DuplicateWebhooks => 3, _ => 0 },
    });

    private Operation WebhookOperation(string kind, int journey, string body, string eventId) =>
        new(kind, journey, async () => [await WithRetriesAsync(() => app.WebhookAsync(body, eventId))], [200]);

    /// <summary>A 503 is tried again, as Razorpay's redelivery or a browser's retry would.</summary>
    private async Task<HttpAnswer> WithRetriesAsync(Func<Task<HttpAnswer>> call)
    {
        var answer = await call();
        for (var attempt = 0; answer.Status == 503 && attempt < 20; attempt++)
        {
            Interlocked.Increment(ref _retries);
            await Task.Delay(20);
            answer = await call();
        }

        return answer;
    }

    private int _faultSlot;

    /// <param name="faultStride">A fault beside every this many operations; 0 for none.</param>
    private async Task RunConcurrentlyAsync(List<Operation> operations, int faultStride)
    {
        var faults = new ConcurrentBag<Task>();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Workers).Select(worker => Task.Run(async () =>
        {
            var random = new Random(unchecked(options.Seed * 7919 + worker * 131 + operations.Count));
            int i;
            while ((i = Interlocked.Increment(ref next)) < operations.Count)
            {
                var operation = operations[i];
                _operations.AddOrUpdate(operation.Kind, 1, (_, n) => n + 1);
                if (faultStride > 0 && Interlocked.Increment(ref _faultSlot) % faultStride == 0)
                {
                    // Started beside the operation, not before it, so it lands while work is in flight.
                    faults.Add(InjectFaultAsync(random.Next(2) == 0 ? KillSession : HoldEventRow,
                        random.Next(0, 8), random.Next(20, 200), _events[random.Next(_events.Length)]));
                }

                foreach (var answer in await operation.Call())
                {
                    _answers.AddOrUpdate($"{operation.Kind} → {answer.Status}", 1, (_, n) => n + 1);
                    if (!operation.Expected.Contains(answer.Status))
                    {
                        _unexpected.Add($"{operation.Kind} {operation.Journey}: {answer}");
                    }
                }
            }
        })));
        await Task.WhenAll(faults);
    }

    /// <summary>
    /// A killed session (one at work: running a statement or inside a transaction) is what a
    /// failover or a network cut does to a transaction in flight; an
    /// event row held by another session is an operator's long statement or a slow neighbour.
    /// Counted only when it happened (a session was there to kill).
    /// </summary>
    private const string KillSession = "database session killed";
    private const string HoldEventRow = "event row held by another session";

    private async Task InjectFaultAsync(string kind, int delayMs, int holdMs, Guid eventId)
    {
        await Task.Delay(delayMs);
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(app.ConnectionString) { ApplicationName = "soak-fault" }.ConnectionString);
        await connection.OpenAsync();
        if (kind == KillSession)
        {
            var killed = await connection.ExecuteScalarAsync<bool?>("""
                select pg_terminate_backend(pid) from pg_stat_activity
                 where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'
                   and application_name <> 'soak-fault' and state in ('active', 'idle in transaction')
                 order by random() limit 1
                """);

            // No session of the app's to kill at that instant: the other fault instead, so every
            // scheduled fault happens.
            kind = killed == true ? KillSession : HoldEventRow;
        }

        if (kind == HoldEventRow)
        {
            await using var transaction = await connection.BeginTransactionAsync();
            await connection.ExecuteAsync("select 1 from events where id = @eventId for update", new { eventId }, transaction);
            await Task.Delay(holdMs);
            await transaction.CommitAsync();
        }

        _faults.AddOrUpdate(kind, 1, (_, n) => n + 1);
    }

    private static IReadOnlyDictionary<string, int> Sorted(ConcurrentDictionary<string, int> counts) =>
        counts.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => kv.Value);

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
