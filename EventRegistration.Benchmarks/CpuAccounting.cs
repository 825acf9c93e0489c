using System.Diagnostics;

namespace EventRegistration.Benchmarks;

/// <summary>
/// CPU time (user + system) of this process, the PostgreSQL server and Azurite, read from /proc,
/// so a report can say where a run's CPU went on a machine they all share. Other people's tests
/// use the same PostgreSQL server: only the backends connected to this run's database count
/// (the server's shared background processes, WAL writer and checkpointer, are left out for all
/// rows alike). Azurite counts only when it is this run's own (<see cref="AzuritePort"/>).
/// Differences are taken per process: a backend that exits between two samples (Npgsql prunes
/// idle pooled connections) would otherwise take its whole lifetime's CPU out of the sum.
/// </summary>
public sealed record CpuSample(double AppMs, double PostgresMs, double AzuriteMs)
{
    private IReadOnlyDictionary<int, double> PostgresByPid { get; init; } = new Dictionary<int, double>();
    private IReadOnlyDictionary<int, double> AzuriteByPid { get; init; } = new Dictionary<int, double>();

    private const double MsPerTick = 10.0; // USER_HZ is 100 on Linux

    /// <summary>The benchmark's database: its backends' titles read "postgres: user database host(port) state".</summary>
    public static string? DatabaseName { get; set; }

    /// <summary>The queue port of the Azurite this run started for itself; null counts every Azurite.</summary>
    public static string? AzuritePort { get; set; }

    public static CpuSample Take()
    {
        var postgres = new Dictionary<int, double>();
        var azurite = new Dictionary<int, double>();
        foreach (var dir in Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                var isPostgres = (cmdline.StartsWith("postgres", StringComparison.Ordinal) || cmdline.Contains("/bin/postgres ", StringComparison.Ordinal))
                    && (DatabaseName is null || cmdline.Contains($" {DatabaseName} ", StringComparison.Ordinal));
                var isAzurite = cmdline.Contains("azurite", StringComparison.Ordinal) && cmdline.Contains("node", StringComparison.Ordinal)
                    && (AzuritePort is null || cmdline.Contains($"--queuePort {AzuritePort} ", StringComparison.Ordinal));
                if (!isPostgres && !isAzurite)
                {
                    continue;
                }

                var ms = ReadMs(Path.Combine(dir, "stat"));
                (isPostgres ? postgres : azurite)[int.Parse(Path.GetFileName(dir))] = ms;
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return new CpuSample(Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds, postgres.Values.Sum(), azurite.Values.Sum())
        {
            PostgresByPid = postgres,
            AzuriteByPid = azurite,
        };
    }

    /// <summary>Per process: what each process alive at the end spent since the start (all of it, if it is new).</summary>
    public static CpuSample operator -(CpuSample after, CpuSample before) =>
        new(after.AppMs - before.AppMs, Spent(after.PostgresByPid, before.PostgresByPid), Spent(after.AzuriteByPid, before.AzuriteByPid));

    private static double Spent(IReadOnlyDictionary<int, double> after, IReadOnlyDictionary<int, double> before) =>
        after.Sum(p => Math.Max(0, p.Value - (before.TryGetValue(p.Key, out var was) ? was : 0)));

    public string PerRequest(int requests) =>
        $"{AppMs / requests:F2} / {PostgresMs / requests:F2} / {AzuriteMs / requests:F2}";

    /// <summary>What the CPU target compares: the app and PostgreSQL, per request (storage is off the instance in Azure).</summary>
    public double AppAndPostgresPer(int requests) => (AppMs + PostgresMs) / requests;

    private static double ReadMs(string statPath)
    {
        var stat = File.ReadAllText(statPath);
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[11] = utime, fields[12] = stime (0-based after the command name)
        return (long.Parse(fields[11]) + long.Parse(fields[12])) * MsPerTick;
    }
}
