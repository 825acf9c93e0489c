using System.Diagnostics;
using System.Globalization;
using System.Text;
using Dapper;
using EventRegistration.Benchmarks;
using EventRegistration.Tests.Infrastructure;
using Npgsql;

// ./dev bench [--quick] [--out docs/benchmarks.md] [--probe] [--replays] [--checkins] [--import]
if (args.Length == 2 && args[0] == ImportBenchmark.ServerFlag)
{
    // The app process of the import benchmark, started by the benchmark itself.
    return await ImportBenchmark.ServeAsync(args[1]);
}

var quick = args.Contains("--quick");
var outIndex = Array.IndexOf(args, "--out");
var output = outIndex >= 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : Path.Combine(FindRoot(), "docs", "benchmarks.md");
var requestsPerRun = quick ? 400 : 2000;
int[] levels = [1, 8, 32, 100];
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

var app = new BenchApp();
await app.InitializeAsync();
try
{
var confirmations = new ConfirmationBenchmark(app, app.ConnectionString);

if (args.Contains("--checkins"))
{
    // The door check-in section alone, merged into the existing report (the other sections are left as they were).
    var section = await CheckinBenchmark.RunAsync(app, quick);
    foreach (var line in section.ConsoleLines)
    {
        Console.WriteLine(line);
    }

    var existing = File.Exists(output) ? await File.ReadAllTextAsync(output) : "# Benchmarks\n";
    await File.WriteAllTextAsync(output, CheckinBenchmark.MergeInto(existing, section.Markdown));
    Console.WriteLine($"check-in section written to {output}");
    return 0;
}

if (args.Contains("--import"))
{
    // The member import alone, its section of the report replaced in place.
    var alone = await ImportBenchmark.RunAsync(app, quick);
    var existing = File.Exists(output) ? await File.ReadAllTextAsync(output) : "# Benchmarks\n";
    await File.WriteAllTextAsync(output, ImportSection.Splice(existing, ImportSection.Render(alone, quick)));
    Console.WriteLine($"member import section written to {output}");
    return 0;
}

if (args.Contains("--probe"))
{
    await ConfirmationProbe.RunAsync(app, confirmations);
    return 0;
}

Console.WriteLine("warming up");
// Long enough for the JIT's tiered compilation to reach steady state on both paths.
var warmup = quick ? 300 : 1500;
await confirmations.ThroughFunctionAsync(await confirmations.PrepareAsync(Spread.ThousandEvents, warmup), 8);
await confirmations.BareTransactionAsync(await confirmations.PrepareAsync(Spread.ThousandEvents, warmup), 8);

if (args.Contains("--replays"))
{
    // The replay rows alone, printed, for working on them; the report needs the whole run.
    await confirmations.ThroughFunctionAsync(await confirmations.PrepareAsync(Spread.HotEvent, warmup), 8);
    await RunReplaysAsync(app, confirmations, quick);
    return 0;
}

var rows = new List<(Spread Spread, int Level, Measurement Function, Measurement Ceiling)>();
var cpu = new List<string>();
foreach (var spread in new[] { Spread.ThousandEvents, Spread.HotEvent })
{
    foreach (var level in levels)
    {
        var functionOrders = await confirmations.PrepareAsync(spread, requestsPerRun);
        var before = CpuSample.Take();
        var function = await confirmations.ThroughFunctionAsync(functionOrders, level);
        var functionCpu = CpuSample.Take() - before;
        var ceilingOrders = await confirmations.PrepareAsync(spread, requestsPerRun);
        before = CpuSample.Take();
        var ceiling = await confirmations.BareTransactionAsync(ceilingOrders, level);
        var ceilingCpu = CpuSample.Take() - before;
        cpu.Add($"| {(spread == Spread.HotEvent ? "one hot event" : "1,000 events")} | {level} | {functionCpu.PerRequest(requestsPerRun)} | {ceilingCpu.PerRequest(requestsPerRun)} |");
        rows.Add((spread, level, function, ceiling));
        Console.WriteLine($"{spread,-15} {level,3}: function {function.PerSecond,7:F0}/s p99 {function.P(99),6:F1} ms | ceiling {ceiling.PerSecond,7:F0}/s p99 {ceiling.P(99),6:F1} ms | failures {function.Failures}/{ceiling.Failures}");
    }
}

var replay = await RunReplaysAsync(app, confirmations, quick);

var tickets = await TicketPipelineBenchmark.RunAsync(app, quick);
foreach (var line in tickets.ConsoleLines)
{
    Console.WriteLine(line);
}

var checkins = await CheckinBenchmark.RunAsync(app, quick);
foreach (var line in checkins.ConsoleLines)
{
    Console.WriteLine(line);
}

var import = await ImportBenchmark.RunAsync(app, quick);

var peakMb = Process.GetCurrentProcess().PeakWorkingSet64 / 1024.0 / 1024.0;
Console.WriteLine($"peak working set {peakMb:F0} MB");

await File.WriteAllTextAsync(output, ImportSection.Splice(
    CheckinBenchmark.MergeInto(await ReportAsync(app, rows, cpu, replay, tickets, peakMb, requestsPerRun, quick), checkins.Markdown),
    ImportSection.Render(import, quick)));
Console.WriteLine($"report written to {output}");
return rows.Any(r => r.Function.Failures > 0) || replay.WithReplays.Failures > 0 ? 1 : 0;
}
finally
{
    await app.DisposeAsync();
}

static async Task<ReplayResult> RunReplaysAsync(BenchApp app, ConfirmationBenchmark confirmations, bool quick)
{
    var replay = await ReplayBenchmark.RunAsync(app, confirmations, genuine: quick ? 300 : 1000);
    Console.WriteLine($"replays: genuine p99 {replay.Before.P(99):F1} ms alone, {replay.WithReplays.P(99):F1} ms with {replay.ReplayLoops} replay loops ({replay.Replays} replays: {string.Join(", ", replay.ReplayStatuses.Select(s => $"{s.Value} x {s.Key}"))}), {replay.After.P(99):F1} ms alone again: {replay.Ratio:F2}x; with {replay.ReplayLoops} forged-signature loops {replay.WithForgeries.P(99):F1} ms ({replay.Forgeries} forgeries)");
    return replay;
}

static async Task<string> ReportAsync(
    BenchApp app, List<(Spread Spread, int Level, Measurement Function, Measurement Ceiling)> rows, List<string> cpu,
    ReplayResult replay, TicketPipelineResult tickets, double peakMb, int requestsPerRun, bool quick)
{
    await using var connection = new NpgsqlConnection(app.ConnectionString);
    var version = await connection.ExecuteScalarAsync<string>("select version()");
    var settings = string.Join(", ", (await connection.QueryAsync<(string Name, string Setting)>(
        "select name, setting from pg_settings where name in ('fsync','synchronous_commit','shared_buffers','max_connections') order by name"))
        .Select(s => $"{s.Name}={s.Setting}"));
    var cpuModel = File.Exists("/proc/cpuinfo")
        ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
        : "unknown";

    var report = new StringBuilder();
    report.AppendLine("# Benchmarks");
    report.AppendLine();
    report.AppendLine($"Written by `./dev bench{(quick ? " --quick" : "")}` on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC. Reproduce with the same command; it starts PostgreSQL and Azurite like the tests and uses a fresh database.");
    report.AppendLine();
    report.AppendLine("## Machine and settings");
    report.AppendLine();
    report.AppendLine($"- {Environment.ProcessorCount} cores ({cpuModel}), {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1024 / 1024 / 1024} GiB; everything (PostgreSQL, Azurite, the app, the load) on the same machine.");
    report.AppendLine($"- {version}; {settings}.");
    report.AppendLine($"- App: `Postgres:MaxConcurrentTransactions`=8 (the default), {requestsPerRun} confirmations per row, each a fresh pending registration with its order.");
    report.AppendLine("- Function path: a real `HttpRequest` with the JSON body → `ConfirmCheckout` (validation, signature check, the confirmation transaction, the outbox row sent to the Azurite queue and marked) → the written response.");
    report.AppendLine("- Ceiling: the same transaction's SQL (`PaymentConfirmation.ReadForDecision`, `MarkPaidAndRecordPayment`, commit), one Npgsql session per caller, run in the same process right after the function row.");
    report.AppendLine();
    report.AppendLine("## Confirmations");
    report.AppendLine();
    report.AppendLine("| events | callers | function /s | p50 ms | p95 ms | p99 ms | ceiling /s | ceiling p99 ms | function ÷ ceiling |");
    report.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    foreach (var (spread, level, function, ceiling) in rows)
    {
        report.AppendLine($"| {(spread == Spread.HotEvent ? "one hot event" : "1,000 events")} | {level} | {function.PerSecond:F0} | {function.P(50):F1} | {function.P(95):F1} | {function.P(99):F1} | {ceiling.PerSecond:F0} | {ceiling.P(99):F1} | {function.PerSecond / ceiling.PerSecond:F2} |");
    }

    report.AppendLine();
    report.AppendLine("CPU milliseconds per confirmation, by process (all on the same 2 cores):");
    report.AppendLine();
    report.AppendLine("| events | callers | function: app / PostgreSQL / Azurite | ceiling: app / PostgreSQL / Azurite |");
    report.AppendLine("|---|---:|---|---|");
    foreach (var line in cpu)
    {
        report.AppendLine(line);
    }

    report.AppendLine();
    report.AppendLine("## Targets");
    report.AppendLine();
    foreach (var (spread, level, function, ceiling) in rows.Where(r => r.Spread == Spread.ThousandEvents))
    {
        var ratio = function.PerSecond / ceiling.PerSecond;
        report.AppendLine($"- 1,000 events, {level} callers: {ratio:P0} of the ceiling (target ≥ 80%): **{(ratio >= 0.8 ? "met" : "missed")}**.");
    }

    var hot = rows.Single(r => r.Spread == Spread.HotEvent && r.Level == 100);
    var hotRatio = hot.Function.PerSecond / hot.Ceiling.PerSecond;
    report.AppendLine($"- One hot event, 100 callers: {hotRatio:F2}× the ceiling at 100 sessions (target ≥ 1.5×): **{(hotRatio >= 1.5 ? "met" : "missed")}**; p99 {hot.Function.P(99):F1} ms (target < 150 ms): **{(hot.Function.P(99) < 150 ? "met" : "missed")}**.");
    report.AppendLine($"- Replays: genuine confirmations' p99 on one hot event with {replay.ReplayLoops} replay loops running is {replay.Ratio:F2}× their p99 without (target within 1.5×): **{(replay.Ratio <= 1.5 ? "met" : "missed")}**.");
    report.AppendLine($"- Ticket pipeline: {tickets.Summary}");
    report.AppendLine($"- Peak working set of the benchmark process (app, fakes and load generator together): {peakMb:F0} MB (target < 250 MB): **{(peakMb < 250 ? "met" : "missed")}**.");
    report.AppendLine();
    report.AppendLine("## Replays of a paid checkout");
    report.AppendLine();
    report.AppendLine($"{replay.Genuine} genuine checkout confirmations on one hot event from {replay.Callers} callers, through the function, three times in a row: alone, while {replay.ReplayLoops} loops replay one already-paid (order, payment, signature) triple of the same event through the same function as fast as it answers, and alone again.");
    report.AppendLine();
    report.AppendLine("| genuine confirmations | /s | p50 ms | p95 ms | p99 ms | failures |");
    report.AppendLine("|---|---:|---:|---:|---:|---:|");
    foreach (var (label, m) in new[]
             {
                 ("alone", replay.Before), ($"with {replay.ReplayLoops} replay loops", replay.WithReplays), ("alone again", replay.After),
                 ($"with {replay.ReplayLoops} forged-signature loops (the floor)", replay.WithForgeries),
             })
    {
        report.AppendLine($"| {label} | {m.PerSecond:F0} | {m.P(50):F1} | {m.P(95):F1} | {m.P(99):F1} | {m.Failures} |");
    }

    report.AppendLine();
    report.AppendLine($"Replays answered meanwhile: {replay.Replays} ({string.Join(", ", replay.ReplayStatuses.OrderBy(s => s.Key).Select(s => $"{s.Value} × {s.Key}"))}), p99 {replay.ReplayP99:F1} ms; forged-signature requests answered 401 in the last row: {replay.Forgeries}. Genuine p99 with replays ÷ the mean of the two quiet p99s: **{replay.Ratio:F2}×** (target ≤ 1.5×); with forgeries instead: {replay.WithForgeries.P(99) / ((replay.Before.P(99) + replay.After.P(99)) / 2):F2}×.");
    report.AppendLine();
    report.AppendLine("## Ticket pipeline");
    report.AppendLine();
    report.AppendLine(tickets.Markdown);
    report.AppendLine();
    report.AppendLine("## Reading the numbers");
    report.AppendLine();
    report.AppendLine(File.Exists(Path.Combine(FindRoot(), "docs", "benchmarks-notes.md"))
        ? await File.ReadAllTextAsync(Path.Combine(FindRoot(), "docs", "benchmarks-notes.md"))
        : "");
    return report.ToString();
}

static string FindRoot()
{
    var directory = new DirectoryInfo(AppContext.BaseDirectory);
    while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "EventRegistration.sln")))
    {
        directory = directory.Parent;
    }

    return directory?.FullName ?? Directory.GetCurrentDirectory();
}

/// <summary>The test fixture's world (own database, own queue, fakes on 127.0.0.1), with a pool sized for 100 callers.</summary>
internal sealed class BenchApp : TestApp
{
    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Postgres:ConnectionString"] = new NpgsqlConnectionStringBuilder(ConnectionString) { MaxPoolSize = 40 }.ConnectionString;
        settings["Postgres:SlotWaitMilliseconds"] = "30000";
    }
}
