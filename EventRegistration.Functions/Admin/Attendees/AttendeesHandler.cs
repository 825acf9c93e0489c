using System.Text.Json.Serialization;
using Dapper;
using EventRegistration.Functions.Infrastructure.Database;

namespace EventRegistration.Functions.Admin.Attendees;

/// <summary>
/// One registration as the organiser sees it. The admission (from <c>checkins</c>, one per registration)
/// is written as null when there is none, not left out: "not admitted" is an answer at the door. So is
/// <see cref="Refund"/>: null when nothing of the registration's payment was ever refunded or owed.
/// </summary>
public sealed record Attendee(
    Guid RegistrationId, Guid MemberId, string Name, string PhoneE164, string Status, string? PaymentId, DateTime? PaidAt, string TicketStatus,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] DateTime? AdmittedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? AdmittedBy,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] AttendeeRefund? Refund);

/// <summary>
/// Where the refund of the registration's payment stands in the ledger (<c>payments.refund_status</c>, the
/// states of the event read's <c>cancellation.refunds</c>): <c>due</c> and <c>requested</c> leave the
/// registration <c>paid</c>, its seat held, until Razorpay reports the whole amount back (<c>processed</c>);
/// <c>failed</c> is finished by an operator in the Razorpay Dashboard; <c>partial</c> is a part refunded there.
/// </summary>
public sealed record AttendeeRefund(string Status, long AmountRefundedPaise);

/// <summary>One page of an event's registrations by id; <c>nextAfter</c> (absent on the last page) is where the next one starts.</summary>
public sealed record AttendeePage(IReadOnlyList<Attendee> Attendees, Guid? NextAfter);

/// <summary>An event's registrations with their payment (and its refund), ticket and check-in status, paged by registration id (keyset, never offset).</summary>
public sealed class AttendeesHandler(Database database)
{
    private const string EventExists = "select exists (select 1 from events where id = @EventId)";

    private const string Page = """
        select r.id as RegistrationId, m.id as MemberId, m.name as Name, m.phone_e164 as PhoneE164, r.status as Status,
               r.payment_id as PaymentId, r.paid_at as PaidAt, coalesce(t.status, 'none') as TicketStatus,
               c.admitted_at as AdmittedAt, c.scanner_id as AdmittedBy,
               p.refund_status as RefundStatus, p.amount_refunded_paise as AmountRefundedPaise
          from event_registrations r
          join members m on m.id = r.member_id
          left join ticket_deliveries t on t.registration_id = r.id
          left join checkins c on c.registration_id = r.id
          left join payments p on p.payment_id = r.payment_id
         where r.event_id = @EventId and r.id > @After and (@Status::text is null or r.status = @Status)
         order by r.id
         limit @Limit
        """;

    /// <returns>The page, or null when no event has this id.</returns>
    public async Task<AttendeePage?> ListAsync(Guid eventId, string? status, Guid after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        if (!await connection.ExecuteScalarAsync<bool>(new CommandDefinition(EventExists, new { EventId = eventId }, cancellationToken: cancellationToken)))
        {
            return null;
        }

        return await PageAsync(connection, eventId, status, after, limit, cancellationToken);
    }

    /// <summary>The page after <paramref name="after"/> of an event known to exist, on a connection of its own (returned to the pool straight after).</summary>
    public async Task<AttendeePage> NextPageAsync(Guid eventId, string? status, Guid after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        return await PageAsync(connection, eventId, status, after, limit, cancellationToken);
    }

    private static async Task<AttendeePage> PageAsync(
        Npgsql.NpgsqlConnection connection, Guid eventId, string? status, Guid after, int limit, CancellationToken cancellationToken)
    {
        var rows = (await connection.QueryAsync<Row>(new CommandDefinition(
            Page, new { EventId = eventId, Status = status, After = after, Limit = limit + 1 }, cancellationToken: cancellationToken))).ToList();
        var page = rows.Take(limit).Select(r => r.ToAttendee()).ToList();
        return new AttendeePage(page, rows.Count > limit ? page[^1].RegistrationId : null);
    }

    private sealed record Row(
        Guid RegistrationId, Guid MemberId, string Name, string PhoneE164, string Status, string? PaymentId, DateTime? PaidAt, string TicketStatus,
        DateTime? AdmittedAt, string? AdmittedBy, string? RefundStatus, long? AmountRefundedPaise)
    {
        public Attendee ToAttendee() => new(RegistrationId, MemberId, Name, PhoneE164, Status, PaymentId, PaidAt, TicketStatus, AdmittedAt, AdmittedBy,
            RefundStatus is null ? null : new AttendeeRefund(RefundStatus, AmountRefundedPaise ?? 0));
    }
}
