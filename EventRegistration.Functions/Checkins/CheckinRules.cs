using EventRegistration.Functions.Infrastructure.Http;
using EventRegistration.Functions.Tickets;

namespace EventRegistration.Functions.Checkins;

/// <summary>
/// What the door holds about one signed ticket, read under the registration's lock.
/// <see cref="RefundStatus"/> is its payment's refund state, read by a statement after the lock (so a
/// refund committed while the scan waited for the row is seen); null when nothing is refunded.
/// </summary>
public sealed record DoorTicket(Guid RegistrationId, Guid EventId, string RegistrationStatus, string EventStatus, string EventTitle, string MemberName)
{
    public string? RefundStatus { get; init; }
}

/// <summary>The ticket's admission, if it has one.</summary>
public sealed record Admission(DateTime AdmittedAt, string ScannerId, Guid Nonce);

/// <summary>
/// The door's answers, one place: a signed ticket's registration state is judged by
/// <see cref="TicketVerifier.Judge"/> (the same rule as everywhere a ticket is checked), and each
/// reason it does not admit has its own problem type, so a scanner can switch on it.
/// </summary>
public static class CheckinRules
{
    public const string Admitted = "admitted";
    public const string AlreadyAdmitted = "already_admitted";
    public const string Conflict = "conflict";
    public const string OtherEvent = "other_event";

    /// <summary>Why a ticket is refused, or null when it admits (if not admitted before).</summary>
    public static string? Refusal(Guid doorEventId, TicketClaims claims, DoorTicket? ticket)
    {
        if (claims.EventId != doorEventId)
        {
            return OtherEvent;
        }

        var check = TicketVerifier.Judge(claims, ticket?.EventId == claims.EventId ? ticket.RegistrationStatus : null, ticket?.EventStatus, ticket?.RefundStatus);
        return check.Verdict == TicketVerdict.Valid ? null : check.Reason;
    }

    public static ApiResult AdmittedAnswer(DoorTicket ticket, Admission admission) => ApiResult.Ok(new AdmittedBody(
        Admitted, ticket.RegistrationId, ticket.EventId, ticket.EventTitle, ticket.MemberName, admission.AdmittedAt, admission.ScannerId));

    public static ApiResult AlreadyAdmittedAnswer(DoorTicket ticket, Admission admission) =>
        Problems.TicketRefused("already-admitted", "Already admitted",
            $"This ticket was already admitted at {admission.AdmittedAt:O} by scanner '{admission.ScannerId}'.", ticket.RegistrationId,
            new() { ["memberName"] = ticket.MemberName, ["admittedAt"] = admission.AdmittedAt, ["admittedBy"] = admission.ScannerId });

    public static ApiResult RefusedAnswer(string reason, TicketClaims claims, DoorTicket? ticket)
    {
        var extensions = new Dictionary<string, object?> { ["reason"] = reason };
        if (ticket is not null && reason != OtherEvent)
        {
            extensions["memberName"] = ticket.MemberName;
        }

        var (slug, title, detail) = reason switch
        {
            OtherEvent => ("ticket-other-event", "Ticket for another event", "This ticket is for another event."),
            TicketCheck.Refunded => ("ticket-refunded", "Ticket refunded", "The ticket's payment was refunded; it no longer admits."),
            TicketCheck.RefundDue => ("ticket-refund-due", "Ticket being refunded",
                "The ticket's payment is being refunded (an operator's refund or the event's cancellation); it does not admit."),
            TicketCheck.Cancelled => ("ticket-cancelled", "Ticket cancelled", "The registration was cancelled; the ticket does not admit."),
            TicketCheck.NotPaid => ("ticket-not-paid", "Ticket not paid", "The registration is not paid (its order is pending); the ticket does not admit."),
            TicketCheck.EventCancelled => ("ticket-event-cancelled", "Event cancelled", "The event is cancelled; no ticket admits."),
            _ => ("ticket-unknown", "Ticket unknown", "The ticket is signed, but no registration of this event has its id."),
        };
        return Problems.TicketRefused(slug, title, detail, claims.RegistrationId, extensions);
    }

    private sealed record AdmittedBody(
        string Result, Guid RegistrationId, Guid EventId, string EventTitle, string MemberName, DateTime AdmittedAt, string ScannerId);
}
