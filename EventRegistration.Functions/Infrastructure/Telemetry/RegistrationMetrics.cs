using System.Diagnostics.Metrics;

namespace EventRegistration.Functions.Infrastructure.Telemetry;

/// <summary>
/// Every instrument the app publishes, named once here (meter <c>EventRegistration</c>).
/// The README lists them with their tags.
/// </summary>
public sealed class RegistrationMetrics
{
    public const string MeterName = "EventRegistration";

    private readonly Counter<long> _confirmations;
    private readonly Counter<long> _rollbacks;
    private readonly Counter<long> _uniqueViolations;
    private readonly Counter<long> _paymentConflicts;
    private readonly Histogram<double> _transactionDuration;
    private readonly Counter<long> _transactionsRejected;
    private readonly Histogram<int> _confirmationsTogether;
    private readonly Counter<long> _confirmationsRunAgainAlone;
    private readonly Counter<long> _webhooks;
    private readonly Counter<long> _reconciliationRuns;
    private readonly Counter<long> _reconciliationItems;
    private readonly Counter<long> _reconciliationErrors;
    private readonly Counter<long> _countDrifts;
    private readonly Counter<long> _ticketSends;
    private readonly Histogram<double> _ticketSendDuration;
    private readonly Counter<long> _ticketSkips;
    private readonly Counter<long> _ticketsPoisoned;
    private readonly Gauge<long> _openAnomalies;
    private readonly Gauge<long> _overdueAnomalies;

    public RegistrationMetrics(IMeterFactory meterFactory)
    {
        Meter = meterFactory.Create(MeterName);
        _confirmations = Meter.CreateCounter<long>("eventregistration.confirmations", description: "Payment confirmations by outcome and source.");
        _rollbacks = Meter.CreateCounter<long>("eventregistration.transaction.rollbacks", description: "Transactions rolled back, by operation and reason.");
        _uniqueViolations = Meter.CreateCounter<long>("eventregistration.unique_violations", description: "Unique-constraint violations caught and retried, by constraint.");
        _paymentConflicts = Meter.CreateCounter<long>("eventregistration.payment_conflicts", description: "Payments that could not be applied as presented, by kind.");
        _transactionDuration = Meter.CreateHistogram<double>("eventregistration.transaction.duration", unit: "ms", description: "Committed transaction duration, by operation.");
        _confirmationsTogether = Meter.CreateHistogram<int>("eventregistration.confirmations.per_transaction", description: "Per transaction the group commit's runners committed: the payment confirmations in it (1: one that waited alone).");
        _confirmationsRunAgainAlone = Meter.CreateCounter<long>("eventregistration.confirmations.run_again_alone", description: "Confirmations whose batch could not commit together and that each ran again alone.");
        _transactionsRejected = Meter.CreateCounter<long>("eventregistration.transaction.rejected", description: "Callers turned away (503) because every transaction slot stayed busy.");
        _webhooks = Meter.CreateCounter<long>("eventregistration.webhooks", description: "Razorpay webhooks by event type and outcome.");
        _reconciliationRuns = Meter.CreateCounter<long>("eventregistration.reconciliation.runs", description: "Reconciliation runs, by status (completed, completed_with_errors, skipped).");
        _reconciliationItems = Meter.CreateCounter<long>("eventregistration.reconciliation.items", description: "Items a reconciliation step handled, by step and outcome.");
        _reconciliationErrors = Meter.CreateCounter<long>("eventregistration.reconciliation.errors", description: "Failures inside a reconciliation step, by step.");
        _countDrifts = Meter.CreateCounter<long>("eventregistration.reconciliation.count_drifts", description: "Events whose attendee_count differs from their paid registrations, per audit, by whether the drift is new.");
        _ticketSends = Meter.CreateCounter<long>("eventregistration.tickets.sends", description: "Ticket delivery attempts by result: sent, transient_failure, permanent_failure.");
        _ticketSendDuration = Meter.CreateHistogram<double>("eventregistration.tickets.send.duration", unit: "ms", description: "Ticket delivery attempt duration (QR, blob, media upload, send), by result.");
        _ticketSkips = Meter.CreateCounter<long>("eventregistration.tickets.skipped", description: "Ticket messages that sent nothing, by reason (already_sent, lease_taken, unfinished_attempt, …).");
        _ticketsPoisoned = Meter.CreateCounter<long>("eventregistration.tickets.poisoned", description: "Poisoned ticket messages recorded, by kind.");
        _openAnomalies = Meter.CreateGauge<long>("eventregistration.anomalies.open", description: "Open (unresolved) anomalies, by kind, as each reconciliation run finds them.");
        _overdueAnomalies = Meter.CreateGauge<long>("eventregistration.anomalies.overdue", description: "Open anomalies older than one reconciliation period, by kind, as each reconciliation run finds them.");
    }

    public Meter Meter { get; }

    public void Confirmation(string source, string outcome) =>
        _confirmations.Add(1, new("source", source), new("outcome", outcome));

    public void TransactionRolledBack(string operation, string reason) =>
        _rollbacks.Add(1, new("operation", operation), new("reason", reason));

    public void UniqueViolation(string operation, string? constraint) =>
        _uniqueViolations.Add(1, new("operation", operation), new("constraint", constraint ?? "unknown"));

    public void PaymentConflict(string kind) => _paymentConflicts.Add(1, new KeyValuePair<string, object?>("kind", kind));

    public void TransactionCompleted(string operation, TimeSpan duration) =>
        _transactionDuration.Record(duration.TotalMilliseconds, new KeyValuePair<string, object?>("operation", operation));

    public void ConfirmationsCommittedTogether(int count) => _confirmationsTogether.Record(count);

    public void ConfirmationsRunAgainAlone(int count) => _confirmationsRunAgainAlone.Add(count);

    public void TransactionRejected(string operation) =>
        _transactionsRejected.Add(1, new KeyValuePair<string, object?>("operation", operation));

    public void Webhook(string eventType, string outcome) =>
        _webhooks.Add(1, new("event", eventType), new("outcome", outcome));

    public void ReconciliationRun(string status) => _reconciliationRuns.Add(1, new KeyValuePair<string, object?>("status", status));

    public void ReconciliationItems(string step, string outcome, long count) =>
        _reconciliationItems.Add(count, new("step", step), new("outcome", outcome));

    public void ReconciliationErrors(string step, long count) => _reconciliationErrors.Add(count, new KeyValuePair<string, object?>("step", step));

    public void CountDrift(bool isNew) => _countDrifts.Add(1, new KeyValuePair<string, object?>("new", isNew));

    public void TicketSend(string result, TimeSpan duration)
    {
        _ticketSends.Add(1, new KeyValuePair<string, object?>("result", result));
        _ticketSendDuration.Record(duration.TotalMilliseconds, new KeyValuePair<string, object?>("result", result));
    }

    public void TicketSkipped(string reason) => _ticketSkips.Add(1, new KeyValuePair<string, object?>("reason", reason));

    /// <summary>Gauges, so an alert reads the latest count per kind; a kind with none is recorded as 0, never left at its last value.</summary>
    public void OpenAnomalies(string kind, long open, long overdue)
    {
        _openAnomalies.Record(open, new KeyValuePair<string, object?>("kind", kind));
        _overdueAnomalies.Record(overdue, new KeyValuePair<string, object?>("kind", kind));
    }

    public void TicketPoisoned(string kind) => _ticketsPoisoned.Add(1, new KeyValuePair<string, object?>("kind", kind));
}
