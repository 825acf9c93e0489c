using Dapper;
using Npgsql;

namespace EventRegistration.Functions.Orders;

/// <summary>
/// Live seat holds: pending registrations whose hold has not lapsed. Counted under the event's
/// row lock, both when an order takes a seat and when a late payment looks for one.
/// </summary>
public static class SeatHolds
{
    private const string CountOthers = """
        select count(*) from event_registrations
         where event_id = @EventId and status = 'pending' and hold_expires_at > @Now and id <> @RegistrationId
        """;

    /// <summary>Live holds of the event other than <paramref name="registrationId"/>'s own.</summary>
    public static Task<long> CountOthersAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid eventId, Guid registrationId, DateTime now) =>
        connection.ExecuteScalarAsync<long>(CountOthers, new { EventId = eventId, Now = now, RegistrationId = registrationId }, transaction);
}
