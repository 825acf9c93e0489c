using System.Diagnostics;
using EventRegistration.Functions.Confirmation;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Benchmarks;

public sealed record ReplayResult(
    int Genuine, int Callers, int ReplayLoops,
    Measurement Before, Measurement WithReplays, Measurement After,
    int Replays, double ReplayP99, IReadOnlyDictionary<int, int> ReplayStatuses)
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

        var genuineOrders = await confirmations.PrepareAsync(Spread.HotEvent, genuine);
        using var stop = new CancellationTokenSource();
        var replayLatencies = new List<double>[replayLoops];
        var statuses = new Dictionary<int, int>[replayLoops];
        var loops = Enumerable.Range(0, replayLoops).Select(loop => Task.Run(async () =>
        {
            replayLatencies[loop] = [];
            statuses[loop] = [];
            while (!stop.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                var request = TestApp.Request(replayBody);
                var answer = await TestApp.ExecuteAsync(request, await function.ConfirmCheckout(request));
                replayLatencies[loop].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                statuses[loop][answer.Status] = statuses[loop].GetValueOrDefault(answer.Status) + 1;
            }
        })).ToList();

        // Let the loops reach full speed before the genuine callers start.
        await Task.Delay(500);
        var withReplays = await confirmations.ThroughFunctionAsync(genuineOrders, callers);
        await stop.CancelAsync();
        await Task.WhenAll(loops);

        var after = await confirmations.ThroughFunctionAsync(await confirmations.PrepareAsync(Spread.HotEvent, genuine), callers);

        var allReplays = replayLatencies.SelectMany(l => l).ToArray();
        var replayStatuses = statuses.SelectMany(s => s).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Sum(kv => kv.Value));
        var replayP99 = new Measurement(allReplays.Length, TimeSpan.FromSeconds(1), allReplays, 0).P(99);
        return new ReplayResult(genuine, callers, replayLoops, before, withReplays, after, allReplays.Length, replayP99, replayStatuses);
    }
}
