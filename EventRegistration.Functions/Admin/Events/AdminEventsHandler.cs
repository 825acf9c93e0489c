using Dapper;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Database;
using Npgsql;

namespace EventRegistration.Functions.Admin.Events;

/// <summary>
/// Creates, changes and lists events. A capacity change is decided under the event's row lock, the
/// lock every confirmation and order takes before counting seats, so paid + held seats cannot move
/// while it is checked. Orders keep the amount they were created with: a price change reaches only
/// orders created after it.
/// </summary>
public sealed class AdminEventsHandler(Database database, TimeProvider clock)
{
    private const string Columns =
        "id, title, starts_at, time_zone, venue, capacity, price_paise, currency, status, attendee_count, cancelled_at, cancel_reason, cancelled_by";

    private const string Insert = """
        insert into events (id, title, starts_at, time_zone, venue, capacity, price_paise, currency, status)
        values (@Id, @Title, @StartsAt, @TimeZone, @Venue, @Capacity, @PricePaise, @Currency, @Status)
        """;

    private const string LockEvent = $"select {Columns} from events where id = @Id for update";

    private const string CountHolds = """
        select count(*) from event_registrations
         where event_id = @Id and status = 'pending' and hold_expires_at > @Now
        """;

    private const string Update = """
        update events set title = @Title, starts_at = @StartsAt, time_zone = @TimeZone, venue = @Venue, capacity = @Capacity,
               price_paise = @PricePaise, currency = @Currency, status = @Status
         where id = @Id
        """;

    private const string List = $"""
        select {Columns},
               (select count(*) from event_registrations r
                 where r.event_id = e.id and r.status = 'pending' and r.hold_expires_at > @Now) as held
          from events e
         where @Id::uuid is null or e.id = @Id
         order by starts_at desc, id
        """;

    /// <summary>
    /// The refunds of cancelled events, by ledger state. Counted over the payments that paid for a
    /// seat and those that came after the cancellation; others (a full event's, a second payment) are
    /// refunded on their own account.
    /// </summary>
    private const string RefundProgress = """
        select r.event_id,
               count(*) filter (where r.status = 'paid' and p.disposition = 'applied'
                                  and (p.refund_status is null or p.refund_status = 'partial')) as not_yet_due,
               count(*) filter (where p.refund_status = 'due') as due,
               count(*) filter (where p.refund_status = 'requested') as requested,
               count(*) filter (where p.refund_status = 'processed') as processed,
               count(*) filter (where p.refund_status = 'failed') as failed
          from payments p join event_registrations r on r.id = p.registration_id
         where r.event_id = any(@EventIds) and p.disposition in ('applied', 'event_cancelled')
         group by r.event_id
        """;

    public Task<EventChangeOutcome> CreateAsync(AdminActor actor, EventInput input, CancellationToken cancellationToken) =>
        database.InTransactionAsync<EventChangeOutcome>("admin_create_event", async (connection, transaction) =>
        {
            var now = clock.GetUtcNow();
            var id = Guid.NewGuid();
            await connection.ExecuteAsync(Insert, Parameters(id, input), transaction);
            var created = await LockAsync(connection, transaction, id);
            var shown = Show(created!, held: 0);
            await AdminAudit.RecordAsync(connection, transaction, actor, "event.create", id.ToString(), null, shown, now);
            return new EventChangeOutcome.Created(shown);
        }, cancellationToken);

    public Task<EventChangeOutcome> UpdateAsync(AdminActor actor, Guid id, EventInput input, CancellationToken cancellationToken) =>
        database.InTransactionAsync<EventChangeOutcome>("admin_update_event", async (connection, transaction) =>
        {
            var now = clock.GetUtcNow();
            var current = await LockAsync(connection, transaction, id);
            if (current is null)
            {
                return new EventChangeOutcome.NotFound();
            }

            if (current.Status == "cancelled")
            {
                return new EventChangeOutcome.Cancelled();
            }

            var held = await connection.ExecuteScalarAsync<long>(CountHolds, new { Id = id, Now = now.UtcDateTime }, transaction);
            if (input.Capacity is { } capacity && capacity < current.AttendeeCount + held)
            {
                return new EventChangeOutcome.CapacityBelowTaken(current.AttendeeCount, held);
            }

            await connection.ExecuteAsync(Update, Parameters(id, input), transaction);
            var updated = await LockAsync(connection, transaction, id);
            var before = Show(current, held);
            var after = Show(updated!, held);
            await AdminAudit.RecordAsync(connection, transaction, actor, "event.update", id.ToString(), before, after, now);
            return new EventChangeOutcome.Updated(after);
        }, cancellationToken);

    public Task<IReadOnlyList<AdminEvent>> ListAsync(CancellationToken cancellationToken) => ReadAsync(null, cancellationToken);

    public async Task<AdminEvent?> GetAsync(Guid id, CancellationToken cancellationToken) => (await ReadAsync(id, cancellationToken)).SingleOrDefault();

    /// <summary>Events with their seats and, for cancelled ones, their refunds, read in one snapshot.</summary>
    private async Task<IReadOnlyList<AdminEvent>> ReadAsync(Guid? id, CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        var rows = (await connection.QueryAsync<EventRow>(new CommandDefinition(
            List, new { Id = id, Now = clock.GetUtcNow().UtcDateTime }, transaction, cancellationToken: cancellationToken))).ToList();
        var cancelled = rows.Where(r => r.Status == "cancelled").Select(r => r.Id).ToArray();
        var progress = cancelled.Length == 0
            ? new Dictionary<Guid, CancellationRefunds>()
            : (await connection.QueryAsync<RefundProgressRow>(new CommandDefinition(
                RefundProgress, new { EventIds = cancelled }, transaction, cancellationToken: cancellationToken)))
                .ToDictionary(p => p.EventId, p => new CancellationRefunds(p.NotYetDue, p.Due, p.Requested, p.Processed, p.Failed));
        await transaction.CommitAsync(cancellationToken);
        return rows.Select(r => Show(r, r.Held, progress.GetValueOrDefault(r.Id))).ToList();
    }

    private static object Parameters(Guid id, EventInput input) => new
    {
        Id = id,
        input.Title,
        StartsAt = input.StartsAt.UtcDateTime,
        input.TimeZone,
        input.Venue,
        input.Capacity,
        input.PricePaise,
        input.Currency,
        input.Status,
    };

    private static Task<EventRow?> LockAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id) =>
        connection.QuerySingleOrDefaultAsync<EventRow>(LockEvent, new { Id = id }, transaction);

    private static AdminEvent Show(EventRow row, long held, CancellationRefunds? refunds = null)
    {
        var zone = TimeZoneInfo.TryFindSystemTimeZoneById(row.TimeZone, out var found) ? found : TimeZoneInfo.Utc;
        var startsAt = TimeZoneInfo.ConvertTime(new DateTimeOffset(DateTime.SpecifyKind(row.StartsAt, DateTimeKind.Utc)), zone);
        long? free = row.Capacity is { } capacity ? Math.Max(0, capacity - row.AttendeeCount - held) : null;
        var cancellation = row.Status == "cancelled"
            ? new EventCancellation(row.CancelledAt is { } at ? DateTime.SpecifyKind(at, DateTimeKind.Utc) : null, row.CancelReason, row.CancelledBy,
                refunds ?? CancellationRefunds.None)
            : null;
        return new AdminEvent(row.Id, row.Title, startsAt, row.TimeZone, row.Venue, row.Capacity, row.PricePaise, row.Currency,
            row.Status, row.AttendeeCount, row.Status == "cancelled" ? 0 : held, row.Status == "cancelled" ? 0 : free, cancellation);
    }

    private sealed class RefundProgressRow
    {
        public Guid EventId { get; init; }
        public long NotYetDue { get; init; }
        public long Due { get; init; }
        public long Requested { get; init; }
        public long Processed { get; init; }
        public long Failed { get; init; }
    }

    private sealed class EventRow
    {
        public Guid Id { get; init; }
        public string Title { get; init; } = "";
        public DateTime StartsAt { get; init; }
        public string TimeZone { get; init; } = "";
        public string? Venue { get; init; }
        public int? Capacity { get; init; }
        public long PricePaise { get; init; }
        public string Currency { get; init; } = "";
        public string Status { get; init; } = "";
        public int AttendeeCount { get; init; }
        public long Held { get; init; }
        public DateTime? CancelledAt { get; init; }
        public string? CancelReason { get; init; }
        public string? CancelledBy { get; init; }
    }
}
