using Dapper;
using EventRegistration.Functions.Infrastructure.Database;

namespace EventRegistration.Functions.Admin.Attendance;

public sealed record AttendanceHour(DateTimeOffset Hour, long Admitted);

/// <summary>
/// How many of an event's paid seats came through the door, and when. <c>Admitted</c> counts every
/// admission (a ticket refunded after its holder came in still came in); <c>AdmittedPaid</c> only
/// those still paid, against <c>Paid</c>. Hours start in the event's own time zone.
/// </summary>
public sealed record EventAttendance(
    Guid EventId, string Title, string TimeZone, int Paid, long Admitted, long AdmittedPaid, long Conflicts, IReadOnlyList<AttendanceHour> ByHour);

public sealed class AttendanceHandler(Database database)
{
    private const string Read = """
        select title, time_zone as TimeZone, attendee_count as Paid from events where id = @EventId;
        select count(*) as Admitted, count(*) filter (where r.status = 'paid') as AdmittedPaid
          from checkins c join event_registrations r on r.id = c.registration_id where c.event_id = @EventId;
        select count(*) from checkin_conflicts where event_id = @EventId;
        select date_trunc('hour', c.admitted_at, e.time_zone) as Hour, count(*) as Admitted
          from checkins c join events e on e.id = c.event_id
         where c.event_id = @EventId
         group by 1 order by 1;
        """;

    /// <returns>Null when no event has this id.</returns>
    public Task<EventAttendance?> ReadAsync(Guid eventId, CancellationToken cancellationToken) =>
        database.RunAsync("admin_attendance", async connection =>
        {
            await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
            await using var read = await connection.QueryMultipleAsync(Read, new { EventId = eventId }, transaction);
            if (await read.ReadSingleOrDefaultAsync<(string Title, string TimeZone, int Paid)?>() is not { } ev)
            {
                return null;
            }

            var (admitted, admittedPaid) = await read.ReadSingleAsync<(long, long)>();
            var conflicts = await read.ReadSingleAsync<long>();
            var zone = TimeZoneInfo.TryFindSystemTimeZoneById(ev.TimeZone, out var found) ? found : TimeZoneInfo.Utc;
            var hours = (await read.ReadAsync<(DateTime Hour, long Admitted)>())
                .Select(h => new AttendanceHour(TimeZoneInfo.ConvertTime(new DateTimeOffset(h.Hour, TimeSpan.Zero), zone), h.Admitted))
                .ToList();
            return new EventAttendance(eventId, ev.Title, ev.TimeZone, ev.Paid, admitted, admittedPaid, conflicts, hours);
        }, cancellationToken);
}
