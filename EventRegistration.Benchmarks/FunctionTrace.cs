namespace EventRegistration.Benchmarks;

/// <summary>
/// <c>./dev bench --trace</c>: the function path alone (checkout confirmations through
/// <c>ConfirmCheckout</c>, 1,000 events), long enough for a CPU profile taken from outside by
/// dotnet-trace. The benchmark warms up and prepares its orders, says it is ready, and starts the
/// measured run only when <c>./dev</c> has attached the profiler (the go file appears); the trace
/// ends when this process exits, so it holds the measured run and nothing before it.
/// </summary>
public static class FunctionTrace
{
    public const string Flag = "--trace-function";

    public static async Task<int> RunAsync(ConfirmationBenchmark confirmations, string[] args)
    {
        var callers = IntArg(args, "--callers", 8);
        var requests = IntArg(args, "--requests", 2000);
        var goFile = args.SkipWhile(a => a != Flag).Skip(1).FirstOrDefault()
            ?? throw new ArgumentException($"{Flag} needs the path of the file that starts the run");

        Console.WriteLine("warming up");
        await confirmations.ThroughFunctionAsync(await confirmations.PrepareAsync(Spread.ThousandEvents, 600), callers);
        var orders = await confirmations.PrepareAsync(Spread.ThousandEvents, requests);
        Console.WriteLine($"trace ready: pid {Environment.ProcessId}");
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!File.Exists(goFile))
        {
            if (waited.Elapsed > TimeSpan.FromMinutes(2))
            {
                Console.WriteLine("no profiler attached within 2 minutes; giving up");
                return 1;
            }

            await Task.Delay(100);
        }

        var before = CpuSample.Take();
        // The runtime's own counters (what dotnet-counters shows as gc-heap-alloc-rate and gen-N-gc-count), for this run.
        var allocated = GC.GetTotalAllocatedBytes(precise: false);
        int[] collections = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
        var measurement = await confirmations.ThroughFunctionAsync(orders, callers);
        var cpu = CpuSample.Take() - before;
        var allocatedPer = (GC.GetTotalAllocatedBytes(precise: false) - allocated) / 1024.0 / requests;
        var gcs = string.Join(" / ", collections.Select((count, generation) => GC.CollectionCount(generation) - count));
        Console.WriteLine($"function, 1,000 events, {callers} callers: {measurement.PerSecond:F0}/s, p50 {measurement.P(50):F1} ms, p99 {measurement.P(99):F1} ms, "
            + $"{measurement.Failures} failures; CPU ms per confirmation (app / PostgreSQL / Azurite): {cpu.PerRequest(requests)}");
        Console.WriteLine($"allocated per confirmation (the app and the load generator): {allocatedPer:F1} KB; collections during the run (gen 0 / 1 / 2): {gcs}");
        return measurement.Failures == 0 ? 0 : 1;
    }

    private static int IntArg(string[] args, string name, int fallback) =>
        Array.IndexOf(args, name) is var i && i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out var value) ? value : fallback;
}
