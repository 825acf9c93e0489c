using System.Diagnostics;

namespace EventRegistration.Benchmarks;

/// <summary>
/// CPU time (user + system) of this process, the PostgreSQL server and Azurite, read from /proc,
/// so a report can say where a run's CPU went on a machine they all share.
/// </summary>
public sealed record CpuSample(double AppMs, double PostgresMs, double AzuriteMs)
{
    private const double MsPerTick = 10.0; // USER_HZ is 100 on Linux

    public static CpuSample Take()
    {
        double postgres = 0, azurite = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                var isPostgres = cmdline.StartsWith("postgres", StringComparison.Ordinal) || cmdline.Contains("/bin/postgres ", StringComparison.Ordinal);
                var isAzurite = cmdline.Contains("azurite", StringComparison.Ordinal) && cmdline.Contains("node", StringComparison.Ordinal);
                if (!isPostgres && !isAzurite)
                {
                    continue;
                }

                var ms = ReadMs(Path.Combine(dir, "stat"));
                if (isPostgres) postgres += ms; else azurite += ms;
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return new CpuSample(Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds, postgres, azurite);
    }

    public static CpuSample operator -(CpuSample after, CpuSample before) =>
        new(after.AppMs - before.AppMs, after.PostgresMs - before.PostgresMs, after.AzuriteMs - before.AzuriteMs);

    public string PerRequest(int requests) =>
        $"app {AppMs / requests:F2} / PostgreSQL {PostgresMs / requests:F2} / Azurite {AzuriteMs / requests:F2}";

    private static double ReadMs(string statPath)
    {
        var stat = File.ReadAllText(statPath);
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[11] = utime, fields[12] = stime (0-based after the command name)
        return (long.Parse(fields[11]) + long.Parse(fields[12])) * MsPerTick;
    }
}
