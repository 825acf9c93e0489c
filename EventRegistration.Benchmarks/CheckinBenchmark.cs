using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Dapper;
using EventRegistration.Functions.Checkins;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace EventRegistration.Benchmarks;

public sealed record CheckinBenchmarkResult(string Markdown, IReadOnlyList<string> ConsoleLines);

/// <summary>
/// Door scans per second for one event: through the real Checkin function (a real HttpRequest,
/// the signature checked, the admit transaction, the stored answer written) against the admit
/// transaction's own SQL run bare on one session per scanner, in the same run, on fresh tickets.
/// </summary>
public static class CheckinBenchmark
{
    public const string SectionStart = "<!-- checkin-benchmark:start -->";
    public const string SectionEnd = "<!-- checkin-benchmark:end -->";
    private static readonly int[] Levels = [1, 8, 32];

    public static async Task<CheckinBenchmarkResult> RunAsync(TestApp app, bool quick)
    {
        var perRun = quick ? 400 : 2000;
        var signer = app.Services.GetRequiredService<TicketSigner>();
        var function = app.Function<CheckinFunction>();
        var (eventId, key) = await EventAsync(app);
        var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "unknown";

        // Warm-up of both paths, so the JIT's tiers settle before the first measured row.
        await ThroughFunctionAsync(function, key, await TicketsAsync(app, signer, eventId, quick ? 200 : 800), 8);
        await BareAsync(app.ConnectionString, ScannerKeys.Hash(key), await TicketsAsync(app, signer, eventId, quick ? 200 : 800), 8);

        var rows = new List<(int Level, Measurement Function, Measurement Bare)>();
        foreach (var level in Levels)
        {
            var function1 = await ThroughFunctionAsync(function, key, await TicketsAsync(app, signer, eventId, perRun), level);
            var bare = await BareAsync(app.ConnectionString, ScannerKeys.Hash(key), await TicketsAsync(app, signer, eventId, perRun), level);
            rows.Add((level, function1, bare));
        }

        var markdown = new StringBuilder();
        markdown.AppendLine(SectionStart);
        markdown.AppendLine("## Door check-in");
        markdown.AppendLine();
        markdown.AppendLine($"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC (`./dev bench{(quick ? " --quick" : "")}`, or `./dev bench --checkins` for this section alone). "
            + $"One event, {perRun} first scans of distinct paid tickets per row, each scanner sending one scan after another. "
            + "Function: a real `HttpRequest` → `Checkin` (body, ECDSA P-256 signature check, the admit transaction: nonce, scanner key, the registration locked, its admission and the stored answer) → the written response, "
            + "with the app's bound of `Postgres:MaxConcurrentTransactions`=8 transactions at once. "
            + "Bare SQL: the same transaction's statements (`CheckinHandler.Read`, `Admit`, `Record`, commit), one Npgsql session per scanner, no application in between. "
            + $"Load average when the run began: {load} (on {Environment.ProcessorCount} cores; other work on the machine shares them).");
        markdown.AppendLine();
        markdown.AppendLine("| scanners | function /s | p50 ms | p99 ms | bare SQL /s | bare p99 ms | function ÷ bare | not admitted |");
        markdown.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        var lines = new List<string>();
        foreach (var (level, f, b) in rows)
        {
            markdown.AppendLine($"| {level} | {f.PerSecond:F0} | {f.P(50):F1} | {f.P(99):F1} | {b.PerSecond:F0} | {b.P(99):F1} | {f.PerSecond / b.PerSecond:F2} | {f.Failures} / {b.Failures} |");
            lines.Add($"checkins {level,3}: function {f.PerSecond,6:F0}/s p99 {f.P(99),6:F1} ms | bare {b.PerSecond,6:F0}/s p99 {b.P(99),6:F1} ms | failures {f.Failures}/{b.Failures}");
        }

        markdown.AppendLine();
        markdown.AppendLine("Scans of one event do not share a row lock (each locks its own registration; `checkins` has no foreign key to `events`, so no scan takes a lock on the event row that confirmations update): they contend only for CPU and the WAL, unlike confirmations of one hot event.");
        markdown.AppendLine(SectionEnd);
        return new CheckinBenchmarkResult(markdown.ToString(), lines);
    }

    /// <summary>Replaces this benchmark's section of the report, or appends it, leaving the rest as it was.</summary>
    public static string MergeInto(string report, string section)
    {
        var start = report.IndexOf(SectionStart, StringComparison.Ordinal);
        var end = report.IndexOf(SectionEnd, StringComparison.Ordinal);
        return start >= 0 && end > start
            ? report[..start] + section.TrimEnd() + report[(end + SectionEnd.Length)..]
            : report.TrimEnd() + Environment.NewLine + Environment.NewLine + section;
    }

    private static async Task<(Guid EventId, string Key)> EventAsync(TestApp app)
    {
        var eventId = Guid.NewGuid();
        var key = ScannerKeys.Create();
        await using var connection = new NpgsqlConnection(app.ConnectionString);
        await connection.ExecuteAsync("""
            insert into events (id, title, starts_at, capacity, price_paise, currency, status)
            values (@eventId, 'Bench door event', now() + interval '1 day', null, 10000, 'INR', 'open');
            insert into scanner_keys (id, event_id, name, key_hash, created_at, created_by)
            values (gen_random_uuid(), @eventId, 'Bench door', @hash, now(), 'bench');
            """, new { eventId, hash = ScannerKeys.Hash(key) });
        return (eventId, key);
    }

    /// <summary>Paid registrations of the event (rows as a confirmation leaves them), and their signed tokens.</summary>
    private static async Task<List<(Guid RegistrationId, string Token)>> TicketsAsync(TestApp app, TicketSigner signer, Guid eventId, int count)
    {
        await using var connection = new NpgsqlConnection(app.ConnectionString);
        var ids = (await connection.QueryAsync<Guid>("""
            with m as (
                insert into members (id, name, phone_e164)
                select gen_random_uuid(), 'Bench guest', '+919800000000' from generate_series(1, @count)
                returning id
            )
            insert into event_registrations (id, event_id, member_id, status, payment_id, amount_paise, currency, paid_at)
            select gen_random_uuid(), @eventId, id, 'paid', 'pay_D' || replace(gen_random_uuid()::text, '-', ''), 10000, 'INR', now() from m
            returning id
            """, new { count, eventId })).ToList();
        await connection.ExecuteAsync("update events set attendee_count = attendee_count + @count where id = @eventId; analyze event_registrations; analyze checkins; analyze checkin_scans",
            new { count, eventId });
        await connection.ExecuteAsync("checkpoint", commandType: System.Data.CommandType.Text);
        return ids.Select(id => (id, signer.CreateToken(id, eventId))).ToList();
    }

    private static async Task<Measurement> ThroughFunctionAsync(CheckinFunction function, string key, IReadOnlyList<(Guid RegistrationId, string Token)> tickets, int scanners)
    {
        var latencies = new double[tickets.Count];
        var failures = 0;
        var next = -1;
        var headers = new Dictionary<string, string[]> { [ScannerKeys.Header] = [key] };
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, scanners).Select(scanner => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < tickets.Count)
            {
                var body = JsonSerializer.Serialize(new { token = tickets[i].Token, scannerId = "door-" + scanner, nonce = Guid.NewGuid() });
                var started = Stopwatch.GetTimestamp();
                var request = TestApp.Request(body, headers);
                var answer = await TestApp.ExecuteAsync(request, await function.Checkin(request));
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (answer.Status != 200)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        })));
        wall.Stop();
        return new Measurement(tickets.Count, wall.Elapsed, latencies, failures);
    }

    /// <summary>The ceiling: the admit transaction's own statements, with a pre-made answer, one session per scanner.</summary>
    private static async Task<Measurement> BareAsync(string connectionString, byte[] keyHash, IReadOnlyList<(Guid RegistrationId, string Token)> tickets, int scanners)
    {
        var latencies = new double[tickets.Count];
        var failures = 0;
        var next = -1;
        var bare = new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = scanners + 10 }.ConnectionString;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, scanners).Select(scanner => Task.Run(async () =>
        {
            await using var connection = new NpgsqlConnection(bare);
            await connection.OpenAsync();
            int i;
            while ((i = Interlocked.Increment(ref next)) < tickets.Count)
            {
                var started = Stopwatch.GetTimestamp();
                var registrationId = tickets[i].RegistrationId;
                var nonce = Guid.NewGuid();
                try
                {
                    await using var transaction = await connection.BeginTransactionAsync();
                    await connection.ExecuteAsync("set local lock_timeout = 30000", transaction: transaction);
                    CheckinHandler.ScannerKeyRow key;
                    await using (var read = await connection.QueryMultipleAsync(CheckinHandler.Read, new { Nonce = nonce, KeyHash = keyHash, RegistrationId = registrationId }, transaction))
                    {
                        await read.ReadAsync();
                        key = await read.ReadSingleAsync<CheckinHandler.ScannerKeyRow>();
                        await read.ReadSingleAsync<DoorTicket>();
                        await read.ReadAsync();
                    }

                    var now = DateTime.UtcNow;
                    var eventId = key.EventId;
                    await connection.ExecuteAsync(CheckinHandler.Admit, new { RegistrationId = registrationId, EventId = eventId, Now = now, ScannerId = "door-" + scanner, Nonce = nonce }, transaction);
                    await connection.ExecuteAsync(CheckinHandler.Record, new
                    {
                        Nonce = nonce, EventId = eventId, RegistrationId = registrationId, ScannerId = "door-" + scanner, Credential = ScannerKeys.Credential(key.Id),
                        Now = now, Outcome = "admitted", StatusCode = 200, Answer = """{"result":"admitted"}""",
                    }, transaction);
                    await transaction.CommitAsync();
                }
                catch (PostgresException)
                {
                    Interlocked.Increment(ref failures);
                }

                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
        })));
        wall.Stop();
        return new Measurement(tickets.Count, wall.Elapsed, latencies, failures);
    }
}
