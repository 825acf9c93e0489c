using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Etlx;

namespace EventRegistration.Benchmarks;

/// <summary>
/// Reads a dotnet-trace <c>dotnet-sampled-thread-time</c> trace and prints where the CPU went:
/// the frames on the stack of the samples that were busy, by inclusive and exclusive share.
/// EventPipe samples every managed thread about 100 times a second, busy or not; a sample in
/// managed code is busy, one in native code is busy unless its last managed frame is a wait (a
/// thread pool worker parked, a socket poll, a timer thread) — so native work such as the HMAC in
/// OpenSSL or the GC's own threads counts, and parked threads do not.
/// </summary>
public static class TraceReport
{
    public const string Flag = "--trace-report";

    private static readonly string[] Waits =
    [
        "LowLevelLifoSemaphore", "LowLevelMonitor", "WaitHandle.Wait", "Monitor.Wait", "Thread.Sleep", "ManualResetEventSlim.Wait",
        "SemaphoreSlim.Wait", "SpinThenBlockingWait", "InternalWaitCore", "SocketAsyncEngine.EventLoop", "WaitForSocketEvents",
        "WaitSubsystem", "TimerQueue.TimerThread", "GateThread", "WaitThread", "Console", "ReadLine", "Interop+Sys.Read(",
        "Thread.Join", "WaitOneCore", "WaitMultiple", "Interop+Sys.Poll", "Interop+Sys.WaitPid", "Task.Wait",
        // A thread whose only managed frame is its start (the finalizer, a native runtime thread) or a parked pool worker.
        "Thread.StartCallback", "WorkerThread.WorkerThreadStart",
    ];

    public static int Run(string[] args)
    {
        var nettrace = args.SkipWhile(a => a != Flag).Skip(1).FirstOrDefault()
            ?? throw new ArgumentException($"{Flag} needs the path of a .nettrace file");
        var top = 40;
        var etlx = TraceLog.CreateFromEventPipeDataFile(nettrace, Path.ChangeExtension(nettrace, ".etlx"));
        using var log = new TraceLog(etlx);

        var inclusive = new Dictionary<string, int>(StringComparer.Ordinal);
        var exclusive = new Dictionary<string, int>(StringComparer.Ordinal);
        var components = new Dictionary<string, int>(StringComparer.Ordinal);
        // --callers-of TEXT: the stacks around the frames whose name holds TEXT (what a hot frame does, and what calls it).
        var callersOf = Array.IndexOf(args, "--callers-of") is var c and >= 0 && c + 1 < args.Length ? args[c + 1] : null;
        var callerPaths = new Dictionary<string, int>(StringComparer.Ordinal);
        var appFrames = new Dictionary<string, int>(StringComparer.Ordinal);
        int all = 0, busy = 0, busyNative = 0;
        var frames = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var sample in log.Events)
        {
            if (sample.ProviderName != "Microsoft-DotNETCore-SampleProfiler")
            {
                continue;
            }

            all++;
            frames.Clear();
            for (var frame = sample.CallStack(); frame is not null; frame = frame.Caller)
            {
                var name = frame.CodeAddress.FullMethodName;
                frames.Add(string.IsNullOrEmpty(name) ? $"?!{frame.CodeAddress.ModuleName}" : name);
            }

            if (frames.Count == 0)
            {
                continue;
            }

            // Type 2 = managed code running, 1 = external (native) code; see the runtime's sampleprofiler.
            var managed = Convert.ToInt32(sample.PayloadByName("Type") ?? 0, System.Globalization.CultureInfo.InvariantCulture) == 2;
            var lastManaged = frames.FirstOrDefault(f => !f.StartsWith("?!", StringComparison.Ordinal)) ?? "";
            if (!managed && (lastManaged.Length == 0 || Waits.Any(w => lastManaged.Contains(w, StringComparison.Ordinal))))
            {
                continue;
            }

            // Native frames have no names here (no symbols); what matters is the managed frame that called them.
            frames.RemoveAll(f => f.StartsWith("?!", StringComparison.Ordinal));

            busy++;
            if (!managed)
            {
                busyNative++;
            }

            var leaf = managed ? frames[0] : $"[native] under {lastManaged}";
            var component = Component(frames[0], managed);
            components[component] = components.GetValueOrDefault(component) + 1;
            if (callersOf is not null && frames.FindIndex(f => f.Contains(callersOf, StringComparison.Ordinal)) is var at and >= 0)
            {
                // Three frames inside the match (what it was doing), the match, then its callers.
                var path = string.Join(" <- ", frames.Skip(Math.Max(0, at - 3)).Take(Math.Min(at, 3) + 4).Select(f => f.Split('(')[0]));
                callerPaths[path] = callerPaths.GetValueOrDefault(path) + 1;
            }

            var app = frames.FirstOrDefault(f => f.StartsWith("EventRegistration.Functions.", StringComparison.Ordinal)) ?? "(no app frame: thread pool, sockets, timers)";
            appFrames[app] = appFrames.GetValueOrDefault(app) + 1;
            exclusive[leaf] = exclusive.GetValueOrDefault(leaf) + 1;
            seen.Clear();
            foreach (var name in frames)
            {
                if (seen.Add(name))
                {
                    inclusive[name] = inclusive.GetValueOrDefault(name) + 1;
                }
            }
        }

        Console.WriteLine($"{all} thread samples, {busy} busy ({busyNative} of them in native code under a managed frame that is not a wait); shares below are of the busy samples.");
        Print("component (the innermost frame's library)", components, busy, 20);
        Print("innermost frame of the app (EventRegistration.Functions) on the stack", appFrames, busy, 25);
        Print("inclusive", inclusive, busy, top);
        Print("exclusive", exclusive, busy, 25);
        if (callersOf is not null)
        {
            Print($"stacks around frames holding '{callersOf}'", callerPaths, busy, 15);
        }

        return 0;
    }

    private static void Print(string title, Dictionary<string, int> counts, int busy, int top)
    {
        Console.WriteLine();
        Console.WriteLine($"top {top} frames by {title} share of busy samples:");
        foreach (var (name, count) in counts.OrderByDescending(c => c.Value).Take(top))
        {
            Console.WriteLine($"{100.0 * count / Math.Max(busy, 1),6:F1} %  {Shorten(name)}");
        }
    }

    /// <summary>The library a busy sample's innermost managed frame belongs to, and whether it ran there or in native code below it.</summary>
    private static string Component(string frame, bool managed)
    {
        string[] known =
        [
            "EventRegistration.Functions", "EventRegistration.Benchmarks", "EventRegistration.Tests", "Npgsql", "Dapper", "Azure.Storage", "Azure.Core",
            "System.Text.Json", "System.Security.Cryptography", "Microsoft.Extensions.Logging", "Microsoft.AspNetCore", "System.Net.Sockets",
            "System.Net.Http", "System.Threading.Tasks", "System.Threading", "System.Runtime.CompilerServices", "System.Diagnostics", "System.Collections",
            "System.Text", "System.Globalization", "System.Xml", "System",
        ];
        var name = known.FirstOrDefault(k => frame.StartsWith(k + ".", StringComparison.Ordinal) || frame.StartsWith(k + "+", StringComparison.Ordinal))
            ?? frame.Split('.', 2)[0];
        return managed ? name : name + " (native below)";
    }

    private static string Shorten(string name) => name.Length > 160 ? name[..160] + "…" : name;
}
