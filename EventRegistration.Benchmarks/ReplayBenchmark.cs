using System.Diagnostics;
using EventRegistration.Functions.Confirmation;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Benchmarks;

public sealed record ReplayResult(
    int Genuine, int Callers, int ReplayLoops,
    Measurement Before, Measurement WithReplays, Measurement After, Measurement WithForgeries,
    int Replays, double ReplayP99, IReadOnlyDictionary<int, int> ReplayStatuses, int Forgeries)
{
    /// <summary>Genuine p99 with the replays running, against the mean of the quiet runs on either side of it.</summary>
    public double Ratio => WithReplays.P(99) / ((Before.P(99) + After.P(99)) / 2);
}

/// <summary>
/// Genuine checkout confirmations on one hot event, first alone, then while replay loops send one
/// already-paid triple through the same function without pause, then alone again (so a drift of
/// the shared machine over the run shows as a difference between the two quiet runs).
/// </summary>
public static class ReplayBenchmark
{
    public static async Task<ReplayResult> RunAsync(TestApp app, ConfirmationBenchmark confirmations, int genuine, int callers = 8, int replayLoops = 32)
    {
        var function = app.Function<ConfirmCheckoutFunction>();

        // The triple the loops replay: a paid registration on the same hot event.
        var paidOrder = (await confirmations.PrepareAsync(Spread.HotEvent, 1))[0];
        var paidPayment = $"pay_R{Guid.NewGuid():N}"[..24];
        var replayBody = $$"""{"razorpay_order_id":"{{paidOrder}}","razorpay_payment_id":"{{paidPayment}}","razorpay_signature":"{{TestApp.CheckoutSignature(paidOrder, paidPayment)}}"}""";
        var firstRequest = TestApp.Request(replayBody);
        var first = await TestApp.ExecuteAsync(firstRequest, await function.ConfirmCheckout(firstRequest));
        if (first.Status != 200)
        {
            throw new InvalidOperationException($"the triple to replay was not confirmed: {first}");
        }

        var before = await confirmations.ThroughFunctionAsync(await confirmations.PrepareAsync(Spread.HotEvent, genuine), callers);
        var (withReplays, replayLatencies, statuses) = await WithLoopsAsync(function, confirmations, replayBody, genuine, callers, replayLoops);
        var after = await confirmations.ThroughFunctionAsync(await confirmations.PrepareAsync(Spread.HotEvent, genuine), callers);

        // The floor: the same loops sending a forged signature, answered 401 before any database
        // work. What genuine callers lose to these is what answering a request at all costs on
        // these cores, which no replay handling can win back.
        var forgedBody = replayBody.Replace(TestApp.CheckoutSignature(paidOrder, paidPayment), new string('0', 64), StringComparison.Ordinal);
        var (withForgeries, forgedLatencies, _) = await WithLoopsAsync(function, confirmations, forgedBody, genuine, callers, replayLoops);

        var replayStatuses = statuses.GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Sum(kv => kv.Value));
        var replayP99 = new Measurement(replayLatencies.Length, TimeSpan.FromSeconds(1), replayLatencies, 0).P(99);
        return new ReplayResult(genuine, callers, replayLoops, before, withReplays, after, withForgeries,
            replayLatencies.Length, replayP99, replayStatuses, forgedLatencies.Length);
    }

    private static async Task<(Measurement Genuine, double[] LoopLatencies, List<KeyValuePair<int, int>> LoopStatuses)> WithLoopsAsync(
        ConfirmCheckoutFunction function, ConfirmationBenchmark confirmations, string loopBody, int genuine, int callers, int loops)
    {
        var genuineOrders = await confirmations.PrepareAsync(Spread.HotEvent, genuine);
        using var stop = new CancellationTokenSource();
        var latencies = new List<double>[loops];
        var statuses = new Dictionary<int, int>[loops];
        var running = Enumerable.Range(0, loops).Select(loop => Task.Run(async () =>
        {
            latencies[loop] = [];
            statuses[loop] = [];
            while (!stop.IsCancellationRequested)
            {
                // A request reaches the app from a socket, so it always starts asynchronously; without
                // this, a loop whose answer completes synchronously would never let go of its thread,
                // which is a property of an in-process loop, not of HTTP traffic.
                await Task.Yield();
                var started = Stopwatch.GetTimestamp();
                var request = TestApp.Request(loopBody);
                var answer = await TestApp.ExecuteAsync(request, await function.ConfirmCheckout(request));
                latencies[loop].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                statuses[loop][answer.Status] = statuses[loop].GetValueOrDefault(answer.Status) + 1;
            }
        })).ToList();

        // Let the loops reach full speed before the genuine callers start.
        await Task.Delay(500);
        var measured = await confirmations.ThroughFunctionAsync(genuineOrders, callers);
        await stop.CancelAsync();
        await Task.WhenAll(running);
        return (measured, latencies.SelectMany(l => l).ToArray(), statuses.SelectMany(s => s).ToList());
    }
}
