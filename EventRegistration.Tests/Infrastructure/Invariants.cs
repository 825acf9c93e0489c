using Dapper;

namespace EventRegistration.Tests.Infrastructure;

/// <summary>DESIGN.md's invariants as SQL, checked after every concurrency and fault test.</summary>
public static class Invariants
{
    public static async Task AssertAllAsync(this TestApp app)
    {
        await using var connection = app.OpenConnection();
        var now = app.Clock.GetUtcNow().UtcDateTime;

        // 1. A payment id belongs to at most one registration.
        var sharedPayments = await connection.QueryAsync<string>(
            "select payment_id from event_registrations where payment_id is not null group by payment_id having count(*) > 1");
        Assert.Empty(sharedPayments);

        // 2. One live registration per member and event (one refunded in whole is history: the member may buy again).
        var doubled = await connection.QueryAsync<Guid>(
            "select member_id from event_registrations where status <> 'refunded' group by event_id, member_id having count(*) > 1");
        Assert.Empty(doubled);

        // 3. attendee_count equals the paid registrations.
        var drift = await connection.QueryAsync<(Guid Id, int Count, long Paid)>("""
            select e.id, e.attendee_count, count(r.id) filter (where r.status = 'paid')
              from events e left join event_registrations r on r.event_id = e.id
             group by e.id having e.attendee_count <> count(r.id) filter (where r.status = 'paid')
            """);
        Assert.Empty(drift);

        // 4. Paid seats plus live holds never exceed capacity.
        var oversold = await connection.QueryAsync<Guid>("""
            select e.id from events e
             where e.capacity is not null and e.attendee_count + (
                   select count(*) from event_registrations r
                    where r.event_id = e.id and r.status = 'pending' and r.hold_expires_at > @now) > e.capacity
            """, new { now });
        Assert.Empty(oversold);

        // 4. Every payment a registration holds is recorded, and each refund_due one has its refund due.
        var unrecorded = await connection.QueryAsync<string>("""
            select r.payment_id from event_registrations r left join payments p on p.payment_id = r.payment_id
             where r.payment_id is not null and (p.payment_id is null or p.registration_id is distinct from r.id)
            """);
        Assert.Empty(unrecorded);
        var refundsNotDue = await connection.QueryAsync<Guid>("""
            select r.id from event_registrations r join payments p on p.payment_id = r.payment_id
             where r.status = 'refund_due' and p.refund_status is null
            """);
        Assert.Empty(refundsNotDue);

        // 5. Each paid registration has exactly one delivery (the primary key makes it at most one): the
        // durable record that its ticket is owed, written in the confirming transaction.
        var ticketGaps = await connection.QueryAsync<Guid>("""
            select r.id from event_registrations r
             where r.status = 'paid' and not exists (select 1 from ticket_deliveries d where d.registration_id = r.id)
            """);
        Assert.Empty(ticketGaps);
        // A ticket is owed only to a registration that was counted as paid: it still is, its refund
        // released the seat, or its payment turned out to be for another amount (seat released, refund due).
        var strayDeliveries = await connection.QueryAsync<Guid>("""
            select d.registration_id from ticket_deliveries d join event_registrations r on r.id = d.registration_id
             where r.status not in ('paid', 'refunded') and not (r.status = 'refund_due' and r.refund_reason = 'amount_mismatch')
            """);
        Assert.Empty(strayDeliveries);
        // A ticket is withheld only when the door would refuse it (TicketVerifier.RevokedBecause):
        // a member whose ticket still admits is never left without one.
        var withheldButAdmits = await connection.QueryAsync<Guid>("""
            select d.registration_id from ticket_deliveries d
              join event_registrations r on r.id = d.registration_id
              join events e on e.id = r.event_id
              left join payments p on p.payment_id = r.payment_id
             where d.status = 'withheld' and r.status = 'paid' and e.status <> 'cancelled'
               and coalesce(p.refund_status, '') not in ('due', 'requested', 'failed', 'processed')
            """);
        Assert.Empty(withheldButAdmits);

        // Refunds: no paid registration whose payment has come back in whole.
        var paidButRefunded = await connection.QueryAsync<Guid>("""
            select r.id from event_registrations r join payments p on p.payment_id = r.payment_id
             where r.status = 'paid'
               and (p.refund_status = 'processed' or p.amount_refunded_paise >= p.amount_paise
                    or (select coalesce(sum(f.amount_paise), 0) from refunds f
                         where f.payment_id = p.payment_id and f.status = 'processed') >= p.amount_paise)
            """);
        Assert.Empty(paidButRefunded);

        // Refunds: what has come back of a payment never exceeds it, and the ledger's running total knows every processed refund.
        var overRefunded = await connection.QueryAsync<string>("""
            select p.payment_id from payments p
              left join refunds f on f.payment_id = p.payment_id and f.status = 'processed'
             group by p.payment_id, p.amount_paise, p.amount_refunded_paise
            having coalesce(sum(f.amount_paise), 0) > coalesce(p.amount_paise, sum(f.amount_paise))
                or p.amount_refunded_paise > coalesce(p.amount_paise, p.amount_refunded_paise)
                or coalesce(sum(f.amount_paise), 0) > p.amount_refunded_paise
            """);
        Assert.Empty(overRefunded);

        // Refunds: 'processed' means the whole payment came back; a registration refunded through the ledger has such a payment.
        var refundedInPart = await connection.QueryAsync<string>("""
            select p.payment_id from payments p
             where p.refund_status = 'processed' and p.amount_paise is not null and p.amount_refunded_paise < p.amount_paise
            union all
            select r.payment_id from event_registrations r join payments p on p.payment_id = r.payment_id
             where r.status = 'refunded' and p.refund_status is distinct from 'processed'
            """);
        Assert.Empty(refundedInPart);

        // Every applied payment belongs to the registration that holds it, which is paid, or was refunded through the ledger.
        var strayApplied = await connection.QueryAsync<string>("""
            select p.payment_id from payments p left join event_registrations r on r.id = p.registration_id
             where p.disposition = 'applied'
               and (r.id is null or r.payment_id is distinct from p.payment_id
                    or not (r.status = 'paid' or (r.status = 'refunded' and p.refund_status = 'processed')))
            """);
        Assert.Empty(strayApplied);

        // Still owed: a payment that pays for no seat (full event, second payment, wrong amount, refunded
        // before its capture, an event cancelled before it came) is refunded in whole, or its refund is due, requested or failed for an
        // operator — never forgotten, and a part refund does not settle it.
        var owedButForgotten = await connection.QueryAsync<string>("""
            select payment_id from payments
             where disposition in ('event_full', 'duplicate', 'amount_mismatch', 'refunded_before_capture', 'event_cancelled')
               and coalesce(refund_status, 'none') not in ('due', 'requested', 'failed', 'processed')
            """);
        Assert.Empty(owedButForgotten);

        // A payment refunded before its capture was reported never pays for a seat.
        var refundedThenCounted = await connection.QueryAsync<string>("""
            select p.payment_id from payments p join event_registrations r on r.payment_id = p.payment_id
             where p.disposition = 'refunded_before_capture'
            """);
        Assert.Empty(refundedThenCounted);
    }
}
