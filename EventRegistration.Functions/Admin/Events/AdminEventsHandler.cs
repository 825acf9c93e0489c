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
    private const string Columns = "id, title, starts_at, time_zone, venue, capacity, price_paise, currency, status, attendee_count";

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
         order by starts_at desc, id
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

    public async Task<IReadOnlyList<AdminEvent>> ListAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<EventRow>(new CommandDefinition(
            List, new { Now = clock.GetUtcNow().UtcDateTime }, cancellationToken: cancellationToken));
        return rows.Select(r => Show(r, r.Held)).ToList();
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

    private static AdminEvent Show(EventRow row, long held)
    {
        var zone = TimeZoneInfo.TryFindSystemTimeZoneById(row.TimeZone, out var found) ? found : TimeZoneInfo.Utc;
        var startsAt = TimeZoneInfo.ConvertTime(new DateTimeOffset(DateTime.SpecifyKind(row.StartsAt, DateTimeKind.Utc)), zone);
        long? free = row.Capacity is { } capacity ? Math.Max(0, capacity - row.AttendeeCount - held) : null;
        return new AdminEvent(row.Id, row.Title, startsAt, row.TimeZone, row.Venue, row.Capacity, row.PricePaise, row.Currency,
            row.Status, row.AttendeeCount, held, free);
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
    }
}
