using System.ComponentModel.DataAnnotations;
using NCrontab;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// App settings <c>Reconciliation__*</c>, plus the timer's schedule, which is the top-level app
/// setting <c>ReconciliationSchedule</c> because the Functions host resolves
/// <c>%ReconciliationSchedule%</c> in the trigger from the app settings.
/// </summary>
public sealed class ReconciliationOptions
{
    public const string Section = "Reconciliation";
    public const string ScheduleSetting = "ReconciliationSchedule";
    public const string ScheduleMissingMessage =
        "ReconciliationSchedule is required: the Functions host reads the Reconcile timer's schedule (%ReconciliationSchedule%) from this app setting, and without it the timer never fires. Set it to a six-field NCRONTAB expression, UTC, for example \"0 */5 * * * *\".";

    public const string ScheduleMessage =
        "ReconciliationSchedule must be a six-field NCRONTAB expression (second minute hour day month day-of-week, UTC), for example \"0 */5 * * * *\".";

    /// <summary>Read from <c>ReconciliationSchedule</c>; validated here so a typo or a missing setting fails start-up, not the first tick.</summary>
    public string Schedule { get; set; } = "";

    /// <summary>Most items one step handles in one run; the rest wait for the next run.</summary>
    [Range(1, 1000, ErrorMessage = "Reconciliation__BatchSize must be between 1 and 1000.")]
    public int BatchSize { get; set; } = 100;

    /// <summary>A pending order is asked about only after the browser and the webhook had this long.</summary>
    [Range(1, 24 * 60, ErrorMessage = "Reconciliation__OrderCheckAfterMinutes must be between 1 and 1440.")]
    public int OrderCheckAfterMinutes { get; set; } = 5;

    /// <summary>Orders older than this are no longer asked about (an operator's case by then).</summary>
    [Range(1, 24 * 30, ErrorMessage = "Reconciliation__OrderHorizonHours must be between 1 and 720.")]
    public int OrderHorizonHours { get; set; } = 48;

    /// <summary>
    /// A delivery still as the confirmation wrote it (its message lost at commit) is enqueued once it
    /// is this old; a younger one may still have its message on the way from the confirming request.
    /// Longer than a confirmation takes, shorter than a member will wait for a ticket.
    /// </summary>
    [Range(10, 3600, ErrorMessage = "Reconciliation__UnsentDeliveryGraceSeconds must be between 10 and 3600.")]
    public int UnsentDeliveryGraceSeconds { get; set; } = 120;

    /// <summary>A stored, unprocessed webhook younger than this may still be in its own request.</summary>
    [Range(0, 3600, ErrorMessage = "Reconciliation__InboxGraceSeconds must be between 0 and 3600.")]
    public int InboxGraceSeconds { get; set; } = 120;

    /// <summary>A delivery queued or sending for longer than this (with its message long on the queue) is re-enqueued.</summary>
    [Range(1, 24 * 60, ErrorMessage = "Reconciliation__StuckDeliveryMinutes must be between 1 and 1440.")]
    public int StuckDeliveryMinutes { get; set; } = 15;

    /// <summary>A refund requested this long ago without a refund.processed webhook is looked up at Razorpay.</summary>
    [Range(1, 7 * 24 * 60, ErrorMessage = "Reconciliation__RefundCheckAfterMinutes must be between 1 and 10080.")]
    public int RefundCheckAfterMinutes { get; set; } = 60;

    /// <summary>
    /// The run stops its steps after this long and closes its row, whatever Razorpay does. Keep it
    /// well under host.json's functionTimeout (5 minutes), which kills the invocation outright.
    /// </summary>
    [Range(5, 240, ErrorMessage = "Reconciliation__RunDeadlineSeconds must be between 5 and 240 (well under the 5-minute functionTimeout).")]
    public int RunDeadlineSeconds { get; set; } = 120;

    /// <summary>A step that calls Razorpay stops after this many transient failures in a row; the rest waits for the next run.</summary>
    [Range(1, 100, ErrorMessage = "Reconciliation__MaxConsecutiveFailures must be between 1 and 100.")]
    public int MaxConsecutiveFailures { get; set; } = 3;

    /// <summary>
    /// The time between two runs of the schedule around <paramref name="nowUtc"/>: the unit of the
    /// health check's staleness (three periods) and of an overdue anomaly (one period).
    /// </summary>
    public TimeSpan Period(DateTime nowUtc)
    {
        var schedule = CrontabSchedule.Parse(Schedule, new CrontabSchedule.ParseOptions { IncludingSeconds = true });
        var next = schedule.GetNextOccurrence(nowUtc);
        return schedule.GetNextOccurrence(next) - next;
    }

    public static bool IsValidSchedule(string? expression) =>
        !string.IsNullOrWhiteSpace(expression)
        && expression.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length == 6
        && CrontabSchedule.TryParse(expression, new CrontabSchedule.ParseOptions { IncludingSeconds = true }) is not null;
}
