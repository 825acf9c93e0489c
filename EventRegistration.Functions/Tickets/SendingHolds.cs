using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using Npgsql;

namespace EventRegistration.Functions.Tickets;

/// <summary>
/// The one owner of <c>whatsapp_sending_holds</c>: when WhatsApp blames the template or the token
/// (<see cref="DeliveryRetryPolicy.StopsAllSends"/>), every ticket sent alike would fail and burn its
/// attempts, so sending stops until an operator releases the hold
/// (<c>update whatsapp_sending_holds set released_at = now() where released_at is null</c>).
/// Deliveries due meanwhile are postponed by <see cref="DeliveryRetryPolicy.HeldRecheck"/>, no attempt spent.
/// </summary>
public sealed class SendingHolds(Database database)
{
    private const string OpenSql = """
        insert into whatsapp_sending_holds (category, reason, held_at) values (@Category, @Reason, @Now)
        on conflict do nothing
        """;

    private const string ReadOpenSql = "select category || ': ' || reason from whatsapp_sending_holds where released_at is null limit 1";

    /// <summary>The open hold's reason, or null when tickets may be sent.</summary>
    public Task<string?> OpenHoldAsync(CancellationToken cancellationToken) =>
        database.RunAsync("whatsapp_hold_read", connection => connection.ExecuteScalarAsync<string?>(ReadOpenSql), cancellationToken);

    /// <summary>Opens the hold unless one is open; the first to open it tells an operator.</summary>
    public static async Task<bool> OpenAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string category, string reason,
        Guid? eventId, Guid? registrationId, DateTime now)
    {
        var opened = await connection.ExecuteAsync(OpenSql, new { Category = category, Reason = TicketDeliveries.Truncate(reason), Now = now }, transaction) == 1;
        if (opened)
        {
            await AnomalyLog.RecordAsync(connection, transaction, new Anomaly(AnomalyKind.WhatsAppSendingBlocked,
                $"Ticket sending is on hold: WhatsApp reports {category} ({TicketDeliveries.Truncate(reason)}). Every ticket sent alike would fail, so none is sent; queued tickets wait without spending attempts. Fix the template or the token, then release the hold: update whatsapp_sending_holds set released_at = now() where released_at is null.",
                eventId, registrationId), now);
        }

        return opened;
    }

    public Task<bool> OpenAsync(string category, string reason, Guid? eventId, Guid? registrationId, DateTime now) =>
        database.InTransactionAsync("whatsapp_hold_open", (connection, transaction) =>
            OpenAsync(connection, transaction, category, reason, eventId, registrationId, now), CancellationToken.None);
}
