using Microsoft.Azure.Functions.Worker;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// The timer (app setting <c>ReconciliationSchedule</c>, required, six-field NCRONTAB, UTC; every
/// five minutes). The host runs one instance of a timer at a time across the app; the runner's
/// advisory lock also covers a manual or past-due run overlapping a scheduled one.
/// </summary>
public sealed class ReconcileFunction(ReconciliationRunner runner)
{
    [Function("Reconcile")]
    public Task Reconcile(
        [TimerTrigger("%ReconciliationSchedule%", RunOnStartup = false)] TimerInfo timer,
        CancellationToken cancellationToken) =>
        runner.RunAsync(timer.IsPastDue, cancellationToken);
}
