using System.ComponentModel.DataAnnotations;

namespace EventRegistration.Functions.Webhooks;

/// <summary>App settings <c>Webhooks__*</c>: how long a webhook may take, how long its body is kept.</summary>
public sealed class WebhookOptions
{
    public const string Section = "Webhooks";

    /// <summary>
    /// Razorpay counts a webhook not answered within 5 s as failed. The webhook stops its own work
    /// after this long and answers 503 (what it stored stays in the inbox for the redelivery or the
    /// timer), leaving room for the answer to travel. Keep it below 5000 in production; the range
    /// goes further, as Postgres:SlotWaitMilliseconds' does, for test runs that race hundreds of
    /// requests on a slow machine and want none of them turned away.
    /// </summary>
    [Range(500, 60_000, ErrorMessage = "Webhooks__TimeBudgetMilliseconds must be between 500 and 60000 (below 5000 in production: Razorpay's timeout).")]
    public int TimeBudgetMilliseconds { get; set; } = 4_000;

    /// <summary>
    /// Days a processed webhook keeps its body (which holds the payer's email and contact); after
    /// that the reconciliation purges the body and keeps the row (event id, type, outcome, times).
    /// At least a day, so that everything Razorpay may still redeliver is deduplicated with its body at hand.
    /// </summary>
    [Range(1, 3_650, ErrorMessage = "Webhooks__InboxRetentionDays must be between 1 and 3650.")]
    public int InboxRetentionDays { get; set; } = 30;

    public TimeSpan TimeBudget => TimeSpan.FromMilliseconds(TimeBudgetMilliseconds);

    public TimeSpan InboxRetention => TimeSpan.FromDays(InboxRetentionDays);
}
