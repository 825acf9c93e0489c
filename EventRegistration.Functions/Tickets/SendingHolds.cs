using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using Npgsql;

namespace EventRegistration.Functions.Tickets;

/// <summary>A sending hold as an operator sees it; <see cref="WaitingTickets"/> counts the deliveries it holds now.</summary>
public sealed record SendingHold(long Id, string Category, string Reason, DateTime HeldAt, DateTime? ReleasedAt, string? ReleasedBy, string? ReleaseNote, long WaitingTickets);

/// <summary>
/// The one owner of <c>whatsapp_sending_holds</c>: when WhatsApp blames the template or the token
/// (<see cref="DeliveryRetryPolicy.StopsAllSends"/>), every ticket sent alike would fail and burn its
/// attempts, so sending stops until an operator releases the hold (<c>POST /api/admin/whatsapp/sending-hold/release</c>).
/// Deliveries due meanwhile are postponed by <see cref="DeliveryRetryPolicy.HeldRecheck"/>, no attempt spent, and marked
/// (<c>ticket_deliveries.held_since</c>); the release makes exactly those due at once.
/// </summary>
public sealed class SendingHolds(Database database)
{
    private const string OpenSql = """
        insert into whatsapp_sending_holds (category, reason, held_at) values (@Category, @Reason, @Now)
        on conflict do nothing
        """;

    private const string ReadOpenSql = "select category || ': ' || reason from whatsapp_sending_holds where released_at is null limit 1";

    private const string Columns = """
        id, category, reason, held_at as HeldAt, released_at as ReleasedAt, released_by as ReleasedBy, release_note as ReleaseNote,
        (select count(*) from ticket_deliveries where held_since is not null and status in ('queued', 'sending')) as WaitingTickets
        """;

    private const string LockOpenSql = $"select {Columns} from whatsapp_sending_holds where released_at is null for update";

    private const string ReadSql = $"select {Columns} from whatsapp_sending_holds where id = @Id";

    private const string LatestSql = $"select {Columns} from whatsapp_sending_holds order by id desc limit 1";

    private const string ReleaseSql = """
        update whatsapp_sending_holds set released_at = @Now, released_by = @Actor, release_note = @Note where id = @Id and released_at is null
        """;

    /// <summary>The held deliveries become due now; each keeps its status and attempts.</summary>
    private const string ResumeHeldSql = """
        update ticket_deliveries set next_attempt_at = null, held_since = null, updated_at = @Now
         where held_since is not null and status in ('queued', 'sending')
        returning registration_id
        """;

    /// <summary>The open hold's reason, or null when tickets may be sent.</summary>
    public Task<string?> OpenHoldAsync(CancellationToken cancellationToken) =>
        database.RunAsync("whatsapp_hold_read", connection => connection.ExecuteScalarAsync<string?>(ReadOpenSql), cancellationToken);

    /// <summary>The open hold, locked for the caller's transaction, or null when sending is not on hold.</summary>
    public static Task<SendingHold?> LockOpenAsync(NpgsqlConnection connection, NpgsqlTransaction transaction) =>
        connection.QuerySingleOrDefaultAsync<SendingHold>(LockOpenSql, transaction: transaction);

    /// <summary>The open hold, else the last one released, else null.</summary>
    public Task<SendingHold?> LatestAsync(CancellationToken cancellationToken) =>
        database.RunAsync("whatsapp_hold_latest", connection => connection.QuerySingleOrDefaultAsync<SendingHold>(LatestSql), cancellationToken);

    /// <summary>Releases the locked hold and makes every delivery it held due now; returns the hold as released and those deliveries.</summary>
    public static async Task<(SendingHold Released, List<Guid> Resumed)> ReleaseAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, SendingHold open, string actor, string note, DateTime now)
    {
        await connection.ExecuteAsync(ReleaseSql, new { open.Id, Now = now, Actor = actor, Note = note }, transaction);
        var resumed = (await connection.QueryAsync<Guid>(ResumeHeldSql, new { Now = now }, transaction)).ToList();
        var released = await connection.QuerySingleAsync<SendingHold>(ReadSql, new { open.Id }, transaction);
        return (released, resumed);
    }

    /// <summary>Opens the hold unless one is open; the first to open it tells an operator.</summary>
    public static async Task<bool> OpenAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string category, string reason,
        Guid? eventId, Guid? registrationId, DateTime now)
    {
        var opened = await connection.ExecuteAsync(OpenSql, new { Category = category, Reason = TicketDeliveries.Truncate(reason), Now = now }, transaction) == 1;
        if (opened)
        {
            await AnomalyLog.RecordAsync(connection, transaction, new Anomaly(AnomalyKind.WhatsAppSendingBlocked,
                $"Ticket sending is on hold: WhatsApp reports {category} ({TicketDeliveries.Truncate(reason)}). Every ticket sent alike would fail, so none is sent; queued tickets wait without spending attempts. Fix the template or the token, then release the hold: POST /api/admin/whatsapp/sending-hold/release (operator) with a note.",
                eventId, registrationId), now);
        }

        return opened;
    }

    public Task<bool> OpenAsync(string category, string reason, Guid? eventId, Guid? registrationId, DateTime now) =>
        database.InTransactionAsync("whatsapp_hold_open", (connection, transaction) =>
            OpenAsync(connection, transaction, category, reason, eventId, registrationId, now), CancellationToken.None);
}
