using EventRegistration.Functions.Anomalies;

namespace EventRegistration.Functions.Confirmation;

/// <summary>What the ledger already knows of a payment, read under the payment's lock.</summary>
public sealed class LedgerPayment
{
    public string PaymentId { get; init; } = "";
    public Guid? RegistrationId { get; init; }
    public long? AmountPaise { get; init; }
    public string? Currency { get; init; }
    public string Disposition { get; init; } = "";
    public string? RefundStatus { get; init; }
    public long AmountRefundedPaise { get; init; }

    public const string Columns = "payment_id, registration_id, amount_paise, currency, disposition, refund_status, amount_refunded_paise";

    /// <summary>Dispositions a more definite report may still replace.</summary>
    public bool IsProvisional => Disposition is Dispositions.FailedAttempt or Dispositions.Observed;
}

/// <summary>The event's seats as counted under its row lock.</summary>
/// <param name="OtherLiveHolds">Live holds of other pending orders; read only when the decision needs them, else null.</param>
/// <param name="EventCancelled">The event was cancelled: it counts no more seats, whatever its capacity.</param>
public sealed record SeatFacts(Guid EventId, int? Capacity, int AttendeeCount, long? OtherLiveHolds, bool EventCancelled = false);

/// <summary>Everything the confirmation knows under its locks: the report, the registration, the event's seats, the ledger.</summary>
/// <param name="PaymentOwner">The registration that already holds this payment id, if any.</param>
public sealed record ConfirmationFacts(
    PaymentReport Report,
    RegistrationRow? Registration,
    SeatFacts? Seats,
    Guid? PaymentOwner,
    LedgerPayment? Known,
    DateTime Now);

/// <summary>What becomes of the registration.</summary>
public enum RegistrationChange
{
    None,
    /// <summary>pending → paid: a seat is counted, a ticket is queued.</summary>
    MarkPaid,
    /// <summary>pending → refund_due: the payment is kept for a refund, no seat.</summary>
    MarkRefundDue,
    /// <summary>paid → refund_due: the payment turned out not to pay for it; the seat is released.</summary>
    WithdrawPaid,
}

/// <summary>The payment row as it must stand after the decision.</summary>
public sealed record PaymentRecord(string Disposition, string? RefundStatus, Guid? RegistrationId);

/// <summary>
/// The outcome and every write it implies. <see cref="Payment"/> is null when the ledger already says
/// what the decision would write; <see cref="Anomaly"/> is recorded only with a payment write, so a
/// report repeated never asks an operator twice.
/// </summary>
public sealed record ConfirmationDecisionResult(
    ConfirmationOutcome Outcome,
    RegistrationChange Change,
    string? RefundReason,
    PaymentRecord? Payment,
    Anomaly? Anomaly);

public static class Dispositions
{
    public const string Applied = "applied";
    public const string EventFull = "event_full";
    public const string Duplicate = "duplicate";
    public const string AmountMismatch = "amount_mismatch";
    public const string UnknownOrder = "unknown_order";
    public const string FailedAttempt = "failed_attempt";
    public const string Observed = "observed";
    public const string RefundedBeforeCapture = "refunded_before_capture";
    public const string EventCancelled = "event_cancelled";
}

public static class RefundReasons
{
    public const string EventFull = "event_full";
    public const string AmountMismatch = "amount_mismatch";
    public const string EventCancelled = "event_cancelled";
}

/// <summary>
/// The confirmation's decision: from what is known under the locks to an outcome, the
/// registration's change and the payment's record. Pure, so every case is table-tested without a
/// database; <see cref="PaymentConfirmation"/> reads the facts and carries out the writes.
/// </summary>
/// <remarks>
/// The order of the questions is the policy. A payment's amount is what any report or the ledger
/// says it is, so the checkout callback (which carries no amount) and the webhook decide alike
/// whichever comes first. A payment the ledger knows to be refunded never pays for a seat.
/// </remarks>
public static class ConfirmationDecision
{
    public static ConfirmationDecisionResult Decide(ConfirmationFacts facts)
    {
        var (report, registration, seats, owner, known, _) = facts;

        if (registration is null || seats is null)
        {
            // A browser's claim about an order this app never made is answered 404 and not recorded;
            // Razorpay's own report of the payment is recorded when it comes.
            // Nor does a report naming an unknown order rewrite a payment the ledger already decided
            // (one applied to another order's registration stays applied).
            return report.Source == ConfirmationSource.Checkout || known is { IsProvisional: false }
                ? Nothing(ConfirmationOutcome.UnknownOrder)
                : Record(ConfirmationOutcome.UnknownOrder, known, new PaymentRecord(Dispositions.UnknownOrder, KeepRefund(known, null), null),
                    new Anomaly(AnomalyKind.UnknownOrder, $"Payment {report.PaymentId} names order {report.OrderId}, which no registration has.", PaymentId: report.PaymentId));
        }

        var amount = report.AmountPaise ?? known?.AmountPaise;
        var currency = report.AmountPaise is not null ? report.Currency : known?.Currency;
        var mismatch = amount is not null && (amount != registration.AmountPaise || !string.Equals(currency, registration.Currency, StringComparison.Ordinal));
        var mismatchDetail = $"Payment {report.PaymentId} is {amount} {currency}; the order is {registration.AmountPaise} {registration.Currency}.";

        if (registration.PaymentId == report.PaymentId)
        {
            if (registration.Status == "paid" && mismatch)
            {
                // Counted on the checkout callback's word before any report said what was paid.
                return new ConfirmationDecisionResult(ConfirmationOutcome.AmountMismatch, RegistrationChange.WithdrawPaid, RefundReasons.AmountMismatch,
                    new PaymentRecord(Dispositions.AmountMismatch, Owed(known), registration.Id),
                    new Anomaly(AnomalyKind.AmountMismatch, mismatchDetail + " It had been confirmed; its seat is released and it is refunded.",
                        registration.EventId, registration.Id, report.PaymentId));
            }

            return Nothing(ReplayOutcome(registration));
        }

        if (owner is not null)
        {
            return Nothing(ConfirmationOutcome.PaymentUsedElsewhere);
        }

        if (known is { IsProvisional: false })
        {
            // A payment's disposition, once decided, is final (only its refund state moves on): the
            // same payment reported again gets the same answer and changes nothing.
            return Nothing(SettledOutcome(known.Disposition));
        }

        if (known is not null && (known.AmountRefundedPaise > 0 || known.RefundStatus == "processed"))
        {
            // Razorpay refunds only captured payments, so this capture report is merely late; but the
            // money has (partly) gone back, and a refunded payment never pays for a seat. Whatever
            // remains is returned too: no seat, no money kept.
            var whole = known.RefundStatus == "processed" || (amount is { } paid && known.AmountRefundedPaise >= paid);
            return Record(ConfirmationOutcome.PaymentRefunded, known,
                new PaymentRecord(Dispositions.RefundedBeforeCapture, whole ? "processed" : Owed(known), registration.Id),
                new Anomaly(AnomalyKind.CaptureAfterRefund,
                    $"Payment {report.PaymentId} was reported captured after {known.AmountRefundedPaise} of it had been refunded; it does not pay for the registration"
                    + (whole ? "." : " and the rest is refunded."),
                    registration.EventId, registration.Id, report.PaymentId));
        }

        if (registration.Status is "paid" or "refund_due" or "refunded")
        {
            return Record(ConfirmationOutcome.MemberAlreadyPaid, known, new PaymentRecord(Dispositions.Duplicate, Owed(known), registration.Id), null);
        }

        if (mismatch)
        {
            return new ConfirmationDecisionResult(ConfirmationOutcome.AmountMismatch, RegistrationChange.MarkRefundDue, RefundReasons.AmountMismatch,
                new PaymentRecord(Dispositions.AmountMismatch, Owed(known), registration.Id),
                new Anomaly(AnomalyKind.AmountMismatch, mismatchDetail + " It is not counted and is refunded.", registration.EventId, registration.Id, report.PaymentId));
        }

        if (seats.EventCancelled)
        {
            // The event was cancelled after the order was made: no seat is sold any more, and the
            // money goes back, as for a full event (the cancellation's progress counts it).
            return new ConfirmationDecisionResult(ConfirmationOutcome.EventCancelled, RegistrationChange.MarkRefundDue, RefundReasons.EventCancelled,
                new PaymentRecord(Dispositions.EventCancelled, Owed(known), registration.Id), null);
        }

        if (!HasSeat(seats, registration, facts.Now))
        {
            return new ConfirmationDecisionResult(ConfirmationOutcome.RefundDue, RegistrationChange.MarkRefundDue, RefundReasons.EventFull,
                new PaymentRecord(Dispositions.EventFull, Owed(known), registration.Id), null);
        }

        return new ConfirmationDecisionResult(ConfirmationOutcome.Paid, RegistrationChange.MarkPaid, null,
            new PaymentRecord(Dispositions.Applied, KeepRefund(known, null), registration.Id), null);
    }

    /// <summary>
    /// The answer to a report of the payment a settled registration already holds (a replay).
    /// The checkout's lock-free fast path (<see cref="CheckoutReplays"/>) answers with it too.
    /// </summary>
    public static ConfirmationOutcome ReplayOutcome(RegistrationRow registration) => registration.Status switch
    {
        "paid" => ConfirmationOutcome.AlreadyPaid,
        _ when registration.RefundReason == RefundReasons.AmountMismatch => ConfirmationOutcome.AmountMismatch,
        _ when registration.RefundReason == RefundReasons.EventCancelled => ConfirmationOutcome.EventCancelled,
        _ => ConfirmationOutcome.RefundDue,
    };

    /// <summary>
    /// A registration with a live hold has its seat reserved; a late payment (hold lapsed) gets a seat
    /// only if the paid seats plus everyone else's live holds leave one free.
    /// </summary>
    public static bool HasSeat(SeatFacts seats, RegistrationRow registration, DateTime now)
    {
        if (seats.Capacity is not { } capacity)
        {
            return true;
        }

        if (seats.AttendeeCount >= capacity)
        {
            return false;
        }

        if (HoldsLiveSeat(registration, now))
        {
            return true;
        }

        var others = seats.OtherLiveHolds
            ?? throw new InvalidOperationException("The other live holds were not read, but the seat decision needs them.");
        return seats.AttendeeCount + others < capacity;
    }

    private static bool HoldsLiveSeat(RegistrationRow registration, DateTime now) =>
        registration.Status == "pending" && registration.HoldExpiresAt > now;

    /// <summary>A refund is owed for what has not come back yet; one already requested or failed keeps its state.</summary>
    private static string Owed(LedgerPayment? known) => known?.RefundStatus switch
    {
        "requested" or "failed" or "processed" => known.RefundStatus,
        _ => "due",
    };

    private static string? KeepRefund(LedgerPayment? known, string? otherwise) => known?.RefundStatus ?? otherwise;

    private static ConfirmationOutcome SettledOutcome(string disposition) => disposition switch
    {
        Dispositions.EventFull => ConfirmationOutcome.RefundDue,
        Dispositions.Duplicate => ConfirmationOutcome.MemberAlreadyPaid,
        Dispositions.AmountMismatch => ConfirmationOutcome.AmountMismatch,
        Dispositions.UnknownOrder => ConfirmationOutcome.UnknownOrder,
        Dispositions.RefundedBeforeCapture => ConfirmationOutcome.PaymentRefunded,
        Dispositions.EventCancelled => ConfirmationOutcome.EventCancelled,
        // Applied to a registration that no longer holds it.
        _ => ConfirmationOutcome.PaymentUsedElsewhere,
    };

    private static ConfirmationDecisionResult Nothing(ConfirmationOutcome outcome) =>
        new(outcome, RegistrationChange.None, null, null, null);

    /// <summary>Records the payment as decided, unless the ledger already holds exactly that.</summary>
    private static ConfirmationDecisionResult Record(ConfirmationOutcome outcome, LedgerPayment? known, PaymentRecord record, Anomaly? anomaly) =>
        known is not null && known.Disposition == record.Disposition && known.RefundStatus == record.RefundStatus && known.RegistrationId == record.RegistrationId
            ? Nothing(outcome)
            : new ConfirmationDecisionResult(outcome, RegistrationChange.None, null, record, anomaly);
}
