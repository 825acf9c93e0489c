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

        // 2. One registration per member and event.
        var doubled = await connection.QueryAsync<Guid>(
            "select member_id from event_registrations group by event_id, member_id having count(*) > 1");
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

        // 5. Each paid registration has exactly one outbox row and one delivery.
        var ticketGaps = await connection.QueryAsync<Guid>("""
            select r.id from event_registrations r
             where r.status = 'paid' and (
                   (select count(*) from outbox o where o.registration_id = r.id) <> 1
                or not exists (select 1 from ticket_deliveries d where d.registration_id = r.id))
            """);
        Assert.Empty(ticketGaps);
        var strayOutbox = await connection.QueryAsync<Guid>("""
            select o.registration_id from outbox o join event_registrations r on r.id = o.registration_id
             where r.status not in ('paid', 'refunded')
            """);
        Assert.Empty(strayOutbox);
    }
}
