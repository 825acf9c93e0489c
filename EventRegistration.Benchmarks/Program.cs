using System.Diagnostics;
using System.Globalization;
using System.Text;
using Dapper;
using EventRegistration.Benchmarks;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

// ./dev bench [--quick] [--out docs/benchmarks.md] [--probe] [--replays] [--checkins] [--import]
//             [--only confirmations|replays|tickets|paced] [--hot-only] [--paced-rate N] [--paced-tickets N] [--paced-backlog N]
//             [--trace-function GOFILE [--callers N] [--requests N]] (started by ./dev bench --trace)
if (args.Length >= 2 && args[0] == TraceReport.Flag)
{
    // ./dev bench --trace: the profile's report, after the traced process has exited.
    return TraceReport.Run(args);
}

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

var only = Array.IndexOf(args, "--only") is var o && o >= 0 && o + 1 < args.Length ? args[o + 1] : null;
// --hot-only: the one-hot-event confirmation rows alone (about a third of --only confirmations), for working on that row.
var hotOnly = args.Contains("--hot-only");
only = hotOnly ? "confirmations" : only;
bool Runs(string part) => only is null || only == part;

var app = new BenchApp();
for (var round = 1; ; round++)
{
    try
    {
        await app.InitializeAsync();
        break;
    }
    catch (InvalidOperationException e) when (round < 4)
    {
        // The shared server's clean-up of other runs' stale databases can break the template's connection; once more.
        Console.WriteLine($"start-up failed ({e.Message}); trying again");
        app = new BenchApp();
    }
}

CpuSample.DatabaseName = new NpgsqlConnectionStringBuilder(app.ConnectionString).Database;
CpuSample.AzuritePort = Environment.GetEnvironmentVariable("EVREG_BENCH_AZURITE_PORT");
try
{
var confirmations = new ConfirmationBenchmark(app, app.AppConnectionString);

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

if (args.Contains(FunctionTrace.Flag))
{
    return await FunctionTrace.RunAsync(confirmations, args);
}

if (args.Contains("--probe"))
{
    await ConfirmationProbe.RunAsync(app, confirmations);
    return 0;
}

var load = Load.Take();
Console.WriteLine($"load before the run: {load}");
// Long enough for the JIT's tiered compilation to reach steady state on every path.
var warmup = quick ? 300 : 1500;
if (only is null or "confirmations" || args.Contains("--replays"))
{
Console.WriteLine("warming up");
await confirmations.ThroughFunctionAsync(await confirmations.PrepareAsync(Spread.ThousandEvents, warmup), 8);
await confirmations.BareTransactionAsync(await confirmations.PrepareAsync(Spread.ThousandEvents, warmup), 8);
await confirmations.BareTransactionAsync(await confirmations.PrepareAsync(Spread.ThousandEvents, warmup / 2), 8, thenSend: true);
// The hot event's first batch too, so its statistics are taken here and not before a measured row.
await confirmations.ThroughFunctionAsync(await confirmations.PrepareAsync(Spread.HotEvent, warmup / 2), 8);
}

if (args.Contains("--replays"))
{
    // The replay rows alone, printed, for working on them; the report needs the whole run.
    await confirmations.ThroughFunctionAsync(await confirmations.PrepareAsync(Spread.HotEvent, warmup), 8);
    await RunReplaysAsync(app, confirmations, quick);
    return 0;
}

var rows = new List<ConfirmationRow>();
if (Runs("confirmations"))
{
    foreach (var spread in hotOnly ? new[] { Spread.HotEvent } : new[] { Spread.ThousandEvents, Spread.HotEvent })
    {
        foreach (var level in levels)
        {
            var warm = WarmUp(level, quick);
            var (function, functionCpu, functionWal) = await MeasureAsync(confirmations, spread, level, warm, requestsPerRun, orders => confirmations.ThroughFunctionAsync(orders, level));
            var (bare, bareCpu, bareWal) = await MeasureAsync(confirmations, spread, level, warm, requestsPerRun, orders => confirmations.BareTransactionAsync(orders, level));
            var (bareSend, bareSendCpu, bareSendWal) = await MeasureAsync(confirmations, spread, level, warm, requestsPerRun, orders => confirmations.BareTransactionAsync(orders, level, thenSend: true));
            var row = new ConfirmationRow(spread, level, requestsPerRun, function, bare, bareSend, functionCpu, bareCpu, bareSendCpu, functionWal, bareWal, bareSendWal);
            rows.Add(row);
            Console.WriteLine($"{spread,-15} {level,3}: function {function.PerSecond,6:F0}/s p99 {function.P(99),6:F1} ms | bare {bare.PerSecond,6:F0}/s | bare+send {bareSend.PerSecond,6:F0}/s | (app+PG) CPU {row.CpuRatio:F2}x bare+send | failures {function.Failures}/{bare.Failures}/{bareSend.Failures}");
            Console.WriteLine($"{"",-15} {"",3}  CPU ms per confirmation (app/PG/Azurite): function {functionCpu.PerRequest(requestsPerRun)} | bare {bareCpu.PerRequest(requestsPerRun)} | bare+send {bareSendCpu.PerRequest(requestsPerRun)}");
            Console.WriteLine($"{"",-15} {"",3}  WAL KB per confirmation (warm-up's last quarter -> measured): function {functionWal} | bare {bareWal} | bare+send {bareSendWal}");
        }
    }
}

var confirmationPeakMb = Process.GetCurrentProcess().PeakWorkingSet64 / 1024.0 / 1024.0;
Console.WriteLine($"peak working set after the confirmation rows {confirmationPeakMb:F0} MB");

ReplayResult? replay = Runs("replays") ? await RunReplaysAsync(app, confirmations, quick) : null;
await confirmations.ClearTicketQueueAsync();

TicketPipelineResult? tickets = null;
if (Runs("tickets"))
{
    tickets = await TicketPipelineBenchmark.RunAsync(app, quick);
    foreach (var line in tickets.ConsoleLines)
    {
        Console.WriteLine(line);
    }
}

PacedTicketsResult? paced = null;
if (Runs("paced"))
{
    // ./dev bench --paced-rate 5 --paced-tickets 500: the same row at a pace a loaded machine's pipeline can outrun.
    var pacedRate = Array.IndexOf(args, "--paced-rate") is var r && r >= 0 && r + 1 < args.Length ? int.Parse(args[r + 1], CultureInfo.InvariantCulture) : 80;
    var pacedTickets = Array.IndexOf(args, "--paced-tickets") is var t && t >= 0 && t + 1 < args.Length ? int.Parse(args[t + 1], CultureInfo.InvariantCulture) : quick ? 1000 : 10_000;
    // Fed 1,000 at a time by default: Azurite's receive slows with the queue's length (173 ms per
    // receive of 8 among 10,000 messages; Azure's does not), which held 10,000 queued at once to
    // about 15 tickets/s. Every ticket is `queued` in the database from the start either way.
    var pacedBacklog = Array.IndexOf(args, "--paced-backlog") is var b && b >= 0 && b + 1 < args.Length ? int.Parse(args[b + 1], CultureInfo.InvariantCulture) : 1000;
    paced = await PacedTicketsBenchmark.RunAsync(pacedTickets, pacedRate, pacedBacklog);
    Console.WriteLine(paced.ConsoleLine);
}

// The door check-in and member import sections belong to the whole report only (each also runs alone: --checkins, --import).
CheckinBenchmarkResult? checkins = null;
ImportResult? import = null;
if (only is null)
{
    checkins = await CheckinBenchmark.RunAsync(app, quick);
    foreach (var line in checkins.ConsoleLines)
    {
        Console.WriteLine(line);
    }

    import = await ImportBenchmark.RunAsync(app, quick);
}

var peakMb = Process.GetCurrentProcess().PeakWorkingSet64 / 1024.0 / 1024.0;
Console.WriteLine($"peak working set {peakMb:F0} MB");
var loadAfter = Load.Take();
Console.WriteLine($"load after the run: {loadAfter}");

if (only is not null)
{
    Console.WriteLine("--only: no report written");
}
else
{
    var report = await ReportAsync(app, rows, replay!, tickets!, paced!, confirmationPeakMb, peakMb, requestsPerRun, quick, load, loadAfter);
    await File.WriteAllTextAsync(output, ImportSection.Splice(CheckinBenchmark.MergeInto(report, checkins!.Markdown), ImportSection.Render(import!, quick)));
    Console.WriteLine($"report written to {output}");
}

return rows.Any(r => r.Function.Failures > 0) || replay?.WithReplays.Failures > 0 ? 1 : 0;
}
finally
{
    await app.DisposeAsync();
}

/// <summary>
/// One measurement at <paramref name="level"/> callers, after an unmeasured warm-up of
/// <paramref name="warm"/> confirmations on the same batch at the same level. Each batch starts
/// after a checkpoint, and after a checkpoint every page's first change writes the whole page to
/// the WAL; the random keys of the payment, delivery and registration indexes spread those first
/// changes over the next 1,500 or so confirmations (30–45 KB of WAL per confirmation at first, about
/// 2 KB once settled; docs/benchmarks-notes.md). A server in production spreads them over its
/// checkpoint interval, so the warm-up takes them. It also opens the level's sessions: a backend's
/// first transactions (catalog caches, plans) cost several times its later ones, and a production
/// pool's sessions are warm. The WAL written per confirmation in the warm-up's last quarter and in
/// the measurement is returned, so the report shows that the measurement began settled.
/// </summary>
static async Task<(Measurement, CpuSample, WalPerConfirmation)> MeasureAsync(
    ConfirmationBenchmark confirmations, Spread spread, int level, int warm, int count, Func<List<string>, Task<Measurement>> run)
{
    await confirmations.ClearTicketQueueAsync();
    var orders = await confirmations.PrepareAsync(spread, warm + count);
    LatencyLog.Phase = "warm-up";
    var lastQuarter = warm - warm / 4;
    await run(orders[..lastQuarter]);
    var lastQuarterStart = await confirmations.WalPositionAsync();
    await run(orders[lastQuarter..warm]);
    var measuredStart = await confirmations.WalPositionAsync();
    LatencyLog.Phase = "measured";
    var before = CpuSample.Take();
    var paused = GC.GetTotalPauseDuration();
    var collections = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
    var measurement = await run(orders[warm..]);
    var cpu = CpuSample.Take() - before;
    var measuredEnd = await confirmations.WalPositionAsync();
    Console.WriteLine($"  (this process paused {(GC.GetTotalPauseDuration() - paused).TotalMilliseconds:F0} ms for GC in the measurement: "
        + $"{GC.CollectionCount(0) - collections.Item1}/{GC.CollectionCount(1) - collections.Item2}/{GC.CollectionCount(2) - collections.Item3} gen0/1/2 collections)");
    LatencyLog.Phase = "other";
    var wal = new WalPerConfirmation(
        (measuredStart - lastQuarterStart) / 1024.0 / (warm - lastQuarter),
        (measuredEnd - measuredStart) / 1024.0 / count);
    return (measurement, cpu, wal);
}

// The quick report keeps its short warm-up: its rows are indicative, and its whole run stays short.
static int WarmUp(int level, bool quick) => Math.Max(quick ? 500 : 2000, 2 * level);

static async Task<ReplayResult> RunReplaysAsync(BenchApp app, ConfirmationBenchmark confirmations, bool quick)
{
    var replay = await ReplayBenchmark.RunAsync(app, confirmations, genuine: quick ? 300 : 1000);
    Console.WriteLine($"replays: genuine p99 {replay.Before.P(99):F1} ms alone, {replay.WithReplays.P(99):F1} ms with {replay.ReplayLoops} replay loops ({replay.Replays} replays: {string.Join(", ", replay.ReplayStatuses.Select(s => $"{s.Value} x {s.Key}"))}), {replay.After.P(99):F1} ms alone again: {replay.Ratio:F2}x; with {replay.ReplayLoops} forged-signature loops {replay.WithForgeries.P(99):F1} ms ({replay.Forgeries} forgeries)");
    return replay;
}

static string Label(Spread spread) => spread == Spread.HotEvent ? "one hot event" : "1,000 events";

static string Verdict(bool met) => met ? "met" : "missed";

static async Task<string> ReportAsync(
    BenchApp app, List<ConfirmationRow> rows, ReplayResult replay, TicketPipelineResult tickets, PacedTicketsResult paced,
    double confirmationPeakMb, double peakMb, int requestsPerRun, bool quick, string loadBefore, string loadAfter)
{
    await using var connection = new NpgsqlConnection(app.ConnectionString);
    var version = await connection.ExecuteScalarAsync<string>("select version()");
    var settings = string.Join(", ", (await connection.QueryAsync<(string Name, string Setting)>(
        "select name, setting from pg_settings where name in ('fsync','synchronous_commit','shared_buffers','max_connections') order by name"))
        .Select(s => $"{s.Name}={s.Setting}"));
    var cpuModel = File.Exists("/proc/cpuinfo")
        ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
        : "unknown";
    var postgres = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<EventRegistration.Functions.Infrastructure.Configuration.PostgresOptions>>().Value;
    var autoPrepare = new NpgsqlConnectionStringBuilder(postgres.ConnectionString).MaxAutoPrepare;

    var report = new StringBuilder();
    report.AppendLine("# Benchmarks");
    report.AppendLine();
    report.AppendLine($"Written by `./dev bench{(quick ? " --quick" : "")}` on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC. Reproduce with the same command; it starts PostgreSQL like the tests, a private Azurite of its own, and uses a fresh database.");
    report.AppendLine();
    report.AppendLine("## Machine and settings");
    report.AppendLine();
    report.AppendLine($"- {Environment.ProcessorCount} cores ({cpuModel}), {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1024 / 1024 / 1024} GiB; everything (PostgreSQL, Azurite, the app, the load) on the same machine.");
    report.AppendLine($"- Load average (1, 5, 15 min) when the run started: {loadBefore}; when it ended: {loadAfter}. Whatever else ran on the machine (other people's builds and tests, when there are any) shared its 2 cores with the run; compare rows within this report only.");
    report.AppendLine($"- {version}; {settings}.");
    report.AppendLine($"- App: `Postgres:MaxConcurrentTransactions`=8 (the default), `Postgres:ConfirmationsPerTransaction`={postgres.ConfirmationsPerTransaction} (confirmations that wait together commit in one transaction; the bare transaction is one confirmation per transaction), Npgsql `Max Auto Prepare`={autoPrepare} (the app and the bare transaction alike), {requestsPerRun} confirmations per measurement, each a fresh pending registration with its order, measured after an unmeasured warm-up on the same batch at the same level ({(quick ? "twice the callers, at least 500" : "twice the callers, at least 2,000")}: each batch follows a checkpoint, whose full-page writes fall on its first 1,500 or so confirmations, and the warm-up leaves every session warm as in a running pool; the WAL table below shows whether each measurement began settled); planner statistics from one ANALYZE on each spread's first batch (the warm-up's), then from autovacuum; GC: {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}, {(System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.Batch ? "non-concurrent" : "concurrent")}; thread pool's `UnfairSemaphoreSpinLimit`={AppContext.GetData("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit") ?? "default (70)"} (Directory.Build.props, as the worker ships).");
    report.AppendLine("- Function path: a real `HttpRequest` with the JSON body → `ConfirmCheckout` (validation, signature check, the confirmation transaction, the ticket message sent to the queue) → the written response.");
    report.AppendLine("- Bare transaction: the same transaction's SQL (`PaymentConfirmation.ReadForDecision`, `MarkPaidAndRecordPayment`, commit), one Npgsql session per caller, in the same process, sent as a straightforward implementation sends it: BEGIN with `set local lock_timeout`, the reads, the writes, `CommitAsync`, four round trips. The function sends the same statements in two: the lock timeout rides with the reads and the COMMIT with the writes (`OpenTransaction`), so the event row is let go as soon as the server has written.");
    report.AppendLine("- Bare transaction + send: the same, then one bare `SendMessage` of the same message through the app's own queue client: the least any design that queues the ticket after commit must do.");
    report.AppendLine("- Each row runs the three measurements back to back on fresh orders of the same events. CPU is read from /proc: the benchmark process (app and load generator), the PostgreSQL backends of this run's database only, and this run's own Azurite.");
    report.AppendLine();
    report.AppendLine("## Confirmations");
    report.AppendLine();
    report.AppendLine("| events | callers | function /s | p50 ms | p95 ms | p99 ms | callers ÷ /s, ms | p99 ÷ that | bare /s | bare p99 ms | bare + send /s | function ÷ bare | function ÷ (bare + send) |");
    report.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    foreach (var r in rows)
    {
        report.AppendLine($"| {Label(r.Spread)} | {r.Level} | {r.Function.PerSecond:F0} | {r.Function.P(50):F1} | {r.Function.P(95):F1} | {r.Function.P(99):F1} | {r.QueueingMs:F1} | {r.Function.P(99) / r.QueueingMs:F2} | {r.Bare.PerSecond:F0} | {r.Bare.P(99):F1} | {r.BareSend.PerSecond:F0} | {r.Function.PerSecond / r.Bare.PerSecond:F2} | {r.Function.PerSecond / r.BareSend.PerSecond:F2} |");
    }

    report.AppendLine();
    report.AppendLine("CPU milliseconds per confirmation, by process (app / PostgreSQL / Azurite), and the ratio of the function's (app + PostgreSQL) CPU to that of the bare transaction + send:");
    report.AppendLine();
    report.AppendLine("| events | callers | function | bare transaction | bare + send | (app + PG) function ÷ (app + PG) bare + send |");
    report.AppendLine("|---|---:|---|---|---|---:|");
    foreach (var r in rows)
    {
        report.AppendLine($"| {Label(r.Spread)} | {r.Level} | {r.FunctionCpu.PerRequest(r.Requests)} | {r.BareCpu.PerRequest(r.Requests)} | {r.BareSendCpu.PerRequest(r.Requests)} | {r.CpuRatio:F2} |");
    }

    report.AppendLine();
    report.AppendLine("KB of WAL written per confirmation, in the warm-up's last quarter → in the measurement. Each batch follows a checkpoint, after which every page's first change writes the whole page; a measurement that began before those writes settled would show more WAL than the warm-up's end, and slower confirmations at its start:");
    report.AppendLine();
    report.AppendLine("| events | callers | function | bare transaction | bare + send |");
    report.AppendLine("|---|---:|---|---|---|");
    foreach (var r in rows)
    {
        report.AppendLine($"| {Label(r.Spread)} | {r.Level} | {r.FunctionWal} | {r.BareWal} | {r.BareSendWal} |");
    }

    report.AppendLine();
    report.AppendLine("## Targets");
    report.AppendLine();
    if (rows.Count > 0)
    {
        var cpuRows = rows.Where(r => r.Level >= 8).ToList();
        var worstCpu = cpuRows.MaxBy(r => r.CpuRatio)!;
        var meanCpu = cpuRows.Average(r => r.CpuRatio);
        report.AppendLine($"- (app + PostgreSQL) CPU per confirmation ≤ 1.3× that of the bare transaction + send: mean {meanCpu:F2}× over the rows with 8 or more callers, worst {worstCpu.CpuRatio:F2}× ({Label(worstCpu.Spread)}, {worstCpu.Level} callers): **{Verdict(meanCpu <= 1.3)}** on the mean, **{Verdict(worstCpu.CpuRatio <= 1.3)}** on the worst row. (One caller is left out: there the app's idle polling and timers weigh on a short, mostly waiting run.)");
        var hot = rows.Single(r => r.Spread == Spread.HotEvent && r.Level == 100);
        var hotRatio = hot.Function.PerSecond / hot.Bare.PerSecond;
        report.AppendLine($"- One hot event, 100 callers: {hot.Function.PerSecond:F0}/s, {hotRatio:F2}× the bare transaction at 100 sessions ({hot.Bare.PerSecond:F0}/s) (target ≥ 1.5×): **{Verdict(hotRatio >= 1.5)}**; p99 {hot.Function.P(99):F1} ms against callers ÷ throughput = {hot.QueueingMs:F1} ms, {hot.Function.P(99) / hot.QueueingMs:F2}× (target ≤ 1.5×): **{Verdict(hot.Function.P(99) <= 1.5 * hot.QueueingMs)}**.");
    }

    if (paced is not null)
    {
        report.AppendLine($"- {paced.Summary}");
    }

    report.AppendLine($"- Peak working set of the benchmark process after the confirmation rows (the app, with the load generator and the idle fakes in the same process): {confirmationPeakMb:F0} MB (target ≤ 250 MB): **{Verdict(confirmationPeakMb <= 250)}**; after every row (replay loops, ticket pipeline and a second app world for the paced tickets included): {peakMb:F0} MB.");
    if (replay is not null)
    {
        report.AppendLine($"- Replays: genuine confirmations' p99 on one hot event with {replay.ReplayLoops} replay loops running is {replay.Ratio:F2}× their p99 without (target within 1.5×): **{Verdict(replay.Ratio <= 1.5)}**.");
    }

    if (tickets is not null)
    {
        report.AppendLine($"- Ticket pipeline (unpaced): {tickets.Summary}");
    }

    if (replay is not null)
    {
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
    }

    if (tickets is not null)
    {
        report.AppendLine();
        report.AppendLine("## Ticket pipeline, unpaced");
        report.AppendLine();
        report.AppendLine(tickets.Markdown);
    }

    if (paced is not null)
    {
        report.AppendLine();
        report.AppendLine("## Tickets at WhatsApp's pace");
        report.AppendLine();
        report.AppendLine(paced.Markdown);
    }

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
    /// <summary>The app's connection string; the bare transaction's sessions use it too, so both prepare alike.</summary>
    public string AppConnectionString { get; private set; } = "";

    protected override void Configure(IDictionary<string, string?> settings)
    {
        var connection = new NpgsqlConnectionStringBuilder(ConnectionString) { MaxPoolSize = 40 };
        // Npgsql's automatic preparation as deployed (the tests' connection string carries it); for an A/B,
        // EVREG_BENCH_MAX_AUTO_PREPARE=0 ./dev bench --only confirmations runs the app and the bare transaction without it.
        if (int.TryParse(Environment.GetEnvironmentVariable("EVREG_BENCH_MAX_AUTO_PREPARE"), out var autoPrepare))
        {
            connection.MaxAutoPrepare = autoPrepare;
        }

        AppConnectionString = connection.ConnectionString;
        settings["Postgres:ConnectionString"] = connection.ConnectionString;
        settings["Postgres:SlotWaitMilliseconds"] = "30000";
        // For an A/B of the group commit: EVREG_BENCH_CONFIRMATIONS_PER_TRANSACTION=1 runs every confirmation alone.
        if (Environment.GetEnvironmentVariable("EVREG_BENCH_CONFIRMATIONS_PER_TRANSACTION") is { Length: > 0 } together)
        {
            settings["Postgres:ConfirmationsPerTransaction"] = together;
        }

        // The upgraded tier's pace, so the unpaced pipeline rows measure the pipeline; the paced row has a world of its own at 80.
        settings["WhatsApp:MessagesPerSecond"] = "1000";
        if (Environment.GetEnvironmentVariable("EVREG_BENCH_STORAGE") is { Length: > 0 } storage)
        {
            settings["AzureWebJobsStorage"] = storage;
        }
    }
}

/// <summary>One row: the function, the bare transaction, and the bare transaction plus a bare queue send, on the same events.</summary>
internal sealed record ConfirmationRow(
    Spread Spread, int Level, int Requests, Measurement Function, Measurement Bare, Measurement BareSend,
    CpuSample FunctionCpu, CpuSample BareCpu, CpuSample BareSendCpu,
    WalPerConfirmation FunctionWal, WalPerConfirmation BareWal, WalPerConfirmation BareSendWal)
{
    /// <summary>(app + PostgreSQL) CPU of the function over that of the bare transaction + send.</summary>
    public double CpuRatio => FunctionCpu.AppAndPostgresPer(Requests) / BareSendCpu.AppAndPostgresPer(Requests);

    /// <summary>What queueing alone would give (Little's law): callers ÷ throughput, in ms.</summary>
    public double QueueingMs => Level / Function.PerSecond * 1000;
}

/// <summary>KB of WAL the server wrote per confirmation, in the warm-up's last quarter and in the measurement.</summary>
internal readonly record struct WalPerConfirmation(double WarmUpEndKb, double MeasuredKb)
{
    public override string ToString() => $"{WarmUpEndKb:F1} → {MeasuredKb:F1}";
}

internal static class Load
{
    public static string Take() =>
        File.Exists("/proc/loadavg") ? string.Join(", ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
}
