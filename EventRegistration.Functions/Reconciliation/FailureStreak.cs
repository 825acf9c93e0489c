namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// When a step that calls Razorpay gives up for this run: after
/// <see cref="ReconciliationOptions.MaxConsecutiveFailures"/> transient failures in a row (timeouts,
/// 5xx, the database unavailable). One success resets it. A rate limit (429) stops the step at once
/// and a permanent refusal of one item says nothing about the next, so neither counts here.
/// </summary>
public sealed class FailureStreak(int limit)
{
    private int _count;

    public void Succeeded() => _count = 0;

    /// <returns>True when the step should stop.</returns>
    public bool Failed() => ++_count >= limit;
}
