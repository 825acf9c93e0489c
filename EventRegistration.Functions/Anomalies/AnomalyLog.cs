using Dapper;
using Npgsql;

namespace EventRegistration.Functions.Anomalies;

/// <summary>
/// Everything an operator may be asked to look at. The stored kind is the snake_case name in
/// <see cref="AnomalyLog.Name"/>; a new kind is added here and nowhere else.
/// </summary>
public enum AnomalyKind
{
    // Payments that could not be applied as they came.
    UnknownOrder,
    AmountMismatch,
    /// <summary>A capture reported for a payment the ledger already knows to be refunded: recorded, never counted as paid.</summary>
    CaptureAfterRefund,

    // Refunds.
    RefundUnknownPayment,
    PartialRefund,
    RefundFailed,
    RefundRefused,
    /// <summary>Razorpay reports more refunded than the payment's amount.</summary>
    RefundExceedsPayment,

    // Counters.
    CountDrift,

    // Tickets.
    TicketWithoutDelivery,
    TicketResentAfterUnknownOutcome,
    TicketFailed,
    TicketSentTwiceSuspected,
    TicketMessageUnreadable,
    TicketPoisoned,
    /// <summary>WhatsApp reported the ticket's message failed and no resend can reach the number (e.g. 131026).</summary>
    TicketUndeliverable,
    /// <summary>WhatsApp reported the ticket's message failed for another reason (limits, re-engagement, unknown code).</summary>
    TicketDeliveryFailed,
    /// <summary>A failed status blames the template or the access token: every ticket sent alike will fail until an operator fixes it.</summary>
    WhatsAppSendingBlocked,
    /// <summary>A ticket accepted by WhatsApp with no 'delivered' (or 'read') after WhatsAppWebhook__UndeliveredAfterMinutes; not resent.</summary>
    TicketNotDelivered,
    /// <summary>A delivery status for a message id no ticket carries.</summary>
    WhatsAppStatusUnknownMessage,
    /// <summary>The e-mail fallback of an undeliverable ticket could not be sent either (refused, no valid address, attempts spent).</summary>
    TicketEmailFailed,

    // Webhooks.
    WebhookUnprocessable,
}

/// <summary>One thing for an operator: what, where, and a sentence that says it.</summary>
public sealed record Anomaly(AnomalyKind Kind, string Detail, Guid? EventId = null, Guid? RegistrationId = null, string? PaymentId = null);

/// <summary>The one way an anomaly is recorded: inside the caller's transaction, or on its own.</summary>
public static class AnomalyLog
{
    private const string Insert = """
        insert into anomalies (kind, event_id, registration_id, payment_id, detail, created_at)
        values (@Kind, @EventId, @RegistrationId, @PaymentId, @Detail, @Now)
        """;

    /// <summary>Records it unless the same open anomaly (kind, event, registration, payment, detail) is already there.</summary>
    private const string InsertUnlessOpen = """
        insert into anomalies (kind, event_id, registration_id, payment_id, detail, created_at)
        select @Kind, @EventId, @RegistrationId, @PaymentId, @Detail, @Now
         where not exists (select 1 from anomalies
                            where kind = @Kind and event_id is not distinct from @EventId
                              and registration_id is not distinct from @RegistrationId
                              and payment_id is not distinct from @PaymentId
                              and detail = @Detail and resolved_at is null)
        """;

    public static string Name(AnomalyKind kind) => kind switch
    {
        AnomalyKind.UnknownOrder => "unknown_order",
        AnomalyKind.AmountMismatch => "amount_mismatch",
        AnomalyKind.CaptureAfterRefund => "capture_after_refund",
        AnomalyKind.RefundUnknownPayment => "refund_unknown_payment",
        AnomalyKind.PartialRefund => "partial_refund",
        AnomalyKind.RefundFailed => "refund_failed",
        AnomalyKind.RefundRefused => "refund_refused",
        AnomalyKind.RefundExceedsPayment => "refund_exceeds_payment",
        AnomalyKind.CountDrift => "count_drift",
        AnomalyKind.TicketWithoutDelivery => "ticket_without_delivery",
        AnomalyKind.TicketResentAfterUnknownOutcome => "ticket_resent_after_unknown_outcome",
        AnomalyKind.TicketFailed => "ticket_failed",
        AnomalyKind.TicketSentTwiceSuspected => "ticket_sent_twice_suspected",
        AnomalyKind.TicketMessageUnreadable => "ticket_message_unreadable",
        AnomalyKind.TicketPoisoned => "ticket_poisoned",
        AnomalyKind.WebhookUnprocessable => "webhook_unprocessable",
        AnomalyKind.TicketUndeliverable => "ticket_undeliverable",
        AnomalyKind.TicketDeliveryFailed => "ticket_delivery_failed",
        AnomalyKind.WhatsAppSendingBlocked => "whatsapp_sending_blocked",
        AnomalyKind.TicketNotDelivered => "ticket_not_delivered",
        AnomalyKind.WhatsAppStatusUnknownMessage => "whatsapp_status_unknown_message",
        AnomalyKind.TicketEmailFailed => "ticket_email_failed",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    public static Task<int> RecordAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, Anomaly anomaly, DateTime now) =>
        connection.ExecuteAsync(Insert, Parameters(anomaly, now), transaction);

    /// <returns>Whether it was new (no identical open anomaly existed).</returns>
    public static async Task<bool> RecordOnceAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, Anomaly anomaly, DateTime now) =>
        await connection.ExecuteAsync(InsertUnlessOpen, Parameters(anomaly, now), transaction) > 0;

    private static object Parameters(Anomaly anomaly, DateTime now) => new
    {
        Kind = Name(anomaly.Kind),
        anomaly.EventId,
        anomaly.RegistrationId,
        anomaly.PaymentId,
        Detail = anomaly.Detail.Length > 2000 ? anomaly.Detail[..2000] : anomaly.Detail,
        Now = now,
    };
}
