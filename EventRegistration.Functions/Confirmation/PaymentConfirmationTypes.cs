namespace EventRegistration.Functions.Confirmation;

public enum ConfirmationSource
{
    Checkout,
    Webhook,
    Reconciliation,
}

/// <summary>A captured payment as one of the three callers learned of it.</summary>
/// <param name="AmountPaise">
/// The payment's amount and currency as Razorpay reported them, checked against the order's;
/// null from the checkout callback, which carries none (its signature binds the payment to the order).
/// </param>
public sealed record PaymentReport(string OrderId, string PaymentId, long? AmountPaise, string? Currency, ConfirmationSource Source);

public enum ConfirmationOutcome
{
    /// <summary>This call made the registration paid.</summary>
    Paid,
    /// <summary>The registration was already paid with this payment (a replay).</summary>
    AlreadyPaid,
    /// <summary>The payment is recorded, but no seat was free: the registration is refund_due.</summary>
    RefundDue,
    /// <summary>This payment id already belongs to another registration; nothing changed.</summary>
    PaymentUsedElsewhere,
    /// <summary>The member already paid with another payment; this one is recorded for refund.</summary>
    MemberAlreadyPaid,
    /// <summary>Amount or currency differ from the order's: not counted, the registration is refund_due and an operator is told.</summary>
    AmountMismatch,
    /// <summary>No registration has the order id; the payment is recorded for an operator.</summary>
    UnknownOrder,
    /// <summary>The ledger knows the payment was refunded (in whole or part) before this capture report; it pays for nothing.</summary>
    PaymentRefunded,
    /// <summary>The event was cancelled before this payment came: recorded, the registration is refund_due, the money goes back.</summary>
    EventCancelled,
}

/// <summary>A registration as stored; column names map with underscores.</summary>
public sealed class RegistrationRow
{
    public Guid Id { get; init; }
    public Guid EventId { get; init; }
    public Guid MemberId { get; init; }
    public string Status { get; init; } = "";
    public string? OrderId { get; init; }
    public string? PaymentId { get; init; }
    public long AmountPaise { get; init; }
    public string Currency { get; init; } = "";
    public DateTime? HoldExpiresAt { get; init; }
    public DateTime? PaidAt { get; init; }
    public string? ConfirmedBy { get; init; }
    public string? RefundReason { get; init; }

    public const string Columns =
        "id, event_id, member_id, status, order_id, payment_id, amount_paise, currency, hold_expires_at, paid_at, confirmed_by, refund_reason";
}

/// <param name="SendsTicket">This confirmation made the registration paid and wrote its <c>queued</c> delivery: its message goes to the queue after commit.</param>
public sealed record ConfirmationResult(ConfirmationOutcome Outcome, RegistrationRow? Registration, bool SendsTicket = false);

/// <summary>The one spelling of each outcome, in logs, metrics and webhook answers alike.</summary>
public static class ConfirmationOutcomes
{
    public static string Name(ConfirmationOutcome outcome) => outcome switch
    {
        ConfirmationOutcome.Paid => "paid",
        ConfirmationOutcome.AlreadyPaid => "already_paid",
        ConfirmationOutcome.RefundDue => "refund_due",
        ConfirmationOutcome.PaymentUsedElsewhere => "payment_used_elsewhere",
        ConfirmationOutcome.MemberAlreadyPaid => "member_already_paid",
        ConfirmationOutcome.AmountMismatch => "amount_mismatch",
        ConfirmationOutcome.PaymentRefunded => "payment_refunded",
        ConfirmationOutcome.UnknownOrder => "unknown_order",
        ConfirmationOutcome.EventCancelled => "event_cancelled",
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, null),
    };
}
