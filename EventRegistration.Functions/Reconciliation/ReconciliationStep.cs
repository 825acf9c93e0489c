using System.Collections.Concurrent;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>One independent part of a run. A step that throws is counted as failed; the others still run.</summary>
public interface IReconciliationStep
{
    /// <summary>The step's name in the run summary, the log and the metrics.</summary>
    string Name { get; }

    /// <summary>Steps that call Razorpay run after the others, so a slow Razorpay cannot starve them.</summary>
    bool CallsRazorpay => false;

    Task RunAsync(StepTally tally, CancellationToken cancellationToken);
}

/// <summary>What one step did in one run: counts by outcome, and its errors.</summary>
public sealed class StepTally(string step)
{
    private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);

    public string Step { get; } = step;

    public int Errors => Get("errors");

    public void Add(string outcome, int count = 1) => _counts.AddOrUpdate(outcome, count, (_, n) => n + count);

    public void Error() => Add("errors");

    public int Get(string outcome) => _counts.TryGetValue(outcome, out var n) ? n : 0;

    public IReadOnlyDictionary<string, int> Counts =>
        new SortedDictionary<string, int>(_counts.ToDictionary(p => p.Key, p => p.Value), StringComparer.Ordinal);
}
