using Dapper;
using EventRegistration.Functions.Infrastructure.Database;

namespace EventRegistration.Functions.Tickets;

public enum TicketVerdict
{
    /// <summary>Signed by this app, and its registration holds a paid seat of a live event: let the member in.</summary>
    Valid,
    /// <summary>Signed by this app, but the seat is no longer the member's; <see cref="TicketCheck.Reason"/> says why.</summary>
    Revoked,
    /// <summary>Not a token this app signed (altered, made up, malformed, or signed with another key). No database was asked.</summary>
    Forged,
}

/// <summary>What one scanned token is worth at the door.</summary>
public sealed record TicketCheck(TicketVerdict Verdict, string? Reason, TicketClaims? Claims)
{
    public static readonly TicketCheck Forged = new(TicketVerdict.Forged, null, null);

    // Why a signed ticket no longer admits, one spelling each (logs, answers, the door's screen).
    public const string Refunded = "refunded";
    public const string RefundDue = "refund_due";
    public const string Cancelled = "cancelled";
    public const string NotPaid = "not_paid";
    public const string EventCancelled = "event_cancelled";
    public const string UnknownRegistration = "unknown_registration";
}

/// <summary>
/// Verifies a scanned ticket token: the signature first, with the key alone (a forged or
/// malformed token costs no database round trip, so a flood of junk scans cannot load it), then
/// the registration's state, because a signature cannot be withdrawn: a ticket whose payment was
/// refunded (and whose seat may have been sold again) still carries a valid signature. The door
/// check-in (Checkins/) applies the same two steps, with <see cref="Judge"/> as its rule.
/// </summary>
public sealed class TicketVerifier(TicketSigner signer, Database database)
{
    private const string ReadState = """
        select r.status as registration_status, e.status as event_status, p.refund_status
          from event_registrations r join events e on e.id = r.event_id
          left join payments p on p.payment_id = r.payment_id
         where r.id = @RegistrationId and r.event_id = @EventId
        """;

    public async Task<TicketCheck> CheckAsync(string? token, CancellationToken cancellationToken)
    {
        if (signer.Verify(token) is not { } claims)
        {
            return TicketCheck.Forged;
        }

        var state = await database.RunAsync("ticket_verify", connection =>
            connection.QuerySingleOrDefaultAsync<(string RegistrationStatus, string EventStatus, string? RefundStatus)?>(ReadState,
                new { claims.RegistrationId, claims.EventId }), cancellationToken);
        return Judge(claims, state?.RegistrationStatus, state?.EventStatus, state?.RefundStatus);
    }

    /// <summary>The rule, given what the database holds (null: no such registration of that event).</summary>
    public static TicketCheck Judge(TicketClaims claims, string? registrationStatus, string? eventStatus, string? refundStatus) =>
        RevokedBecause(registrationStatus, eventStatus, refundStatus) is { } reason
            ? new(TicketVerdict.Revoked, reason, claims)
            : new(TicketVerdict.Valid, null, claims);

    /// <summary>
    /// Why a ticket of this registration no longer admits (a <see cref="TicketCheck"/> reason), or
    /// null when it does. The door judges a scan by it, and the ticket sender (Tickets/, EmailFallback/)
    /// withholds a ticket not yet sent by it: a ticket the door would refuse is not handed out.
    /// <paramref name="refundStatus"/> is the registration's payment's refund state: an operator's
    /// refund or an event's cancellation leaves the registration <c>paid</c> (its seat held) until
    /// Razorpay reports the money back, but from the moment the refund is owed the ticket no longer
    /// admits. A refund that failed at Razorpay is still owed (an operator finishes it), so it does
    /// not admit either; <c>partial</c> (staff returned part of it in the Dashboard, nothing owed) does.
    /// </summary>
    public static string? RevokedBecause(string? registrationStatus, string? eventStatus, string? refundStatus) =>
        (registrationStatus, eventStatus, refundStatus) switch
        {
            (null, _, _) => TicketCheck.UnknownRegistration,
            ("paid", "cancelled", _) => TicketCheck.EventCancelled,
            ("paid", _, var refund) when RefundOwed(refund) => TicketCheck.RefundDue,
            ("paid", _, "processed") => TicketCheck.Refunded,
            ("paid", _, _) => null,
            ("refunded", _, _) => TicketCheck.Refunded,
            ("refund_due", _, _) => TicketCheck.RefundDue,
            ("cancelled", _, _) => TicketCheck.Cancelled,
            _ => TicketCheck.NotPaid,
        };

    /// <summary>
    /// For a sender's <c>update … from</c> that starts a send (<see cref="TicketDeliveries"/>, the
    /// e-mail fallback's): the facts <see cref="RevokedBecause"/> judges, joined to the ticket's
    /// registration <c>r</c>. With <see cref="AdmissionAsRead"/> in its where clause, a refund owed or
    /// a cancellation committed since the sender read them matches no row, and it judges again.
    /// </summary>
    internal const string AdmissionFacts = """
        event_registrations r join events e on e.id = r.event_id
          left join payments p on p.payment_id = r.payment_id
        """;

    /// <summary>The facts of <see cref="AdmissionFacts"/> are still those the send was decided on (parameters named as the senders read them).</summary>
    internal const string AdmissionAsRead =
        "r.status = @RegistrationStatus and e.status = @EventStatus and p.refund_status is not distinct from @RefundStatus";

    /// <summary>
    /// A payment whose refund is owed, asked of Razorpay, or failed there (an operator finishes it)
    /// is money on its way back: its ticket no longer admits, nor is it sent (Tickets/, EmailFallback/) or sent again (Admin/Resends).
    /// </summary>
    public static bool RefundOwed(string? refundStatus) => refundStatus is "due" or "requested" or "failed";
}
