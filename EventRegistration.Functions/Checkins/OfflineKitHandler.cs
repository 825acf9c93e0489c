using System.Data;
using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Http;
using EventRegistration.Functions.Tickets;

namespace EventRegistration.Functions.Checkins;

public sealed record KitPublicKey(string Use, string Pem);

public sealed record KitTicket(Guid RegistrationId, string MemberName);

public sealed record KitRevokedTicket(Guid RegistrationId, string MemberName, string Reason);

public sealed record KitAdmission(Guid RegistrationId, DateTime AdmittedAt, string ScannerId);

/// <summary>
/// What a scanner needs to keep admitting with the network gone: the keys that verify tickets, the
/// event's valid tickets with the names to show, the tickets that no longer admit (judged by the
/// door's rule, <see cref="TicketVerifier.Judge"/>: a refund owed, a cancelled event), and who is in.
/// <c>Version</c> is the server's clock (Unix milliseconds) when the kit was read; with
/// <c>since</c> only what changed from <see cref="Overlap"/> before that version is sent (a write
/// whose transaction was still open at that instant carries an earlier time than its commit, and
/// the overlap catches it). The scanner merges: a ticket listed again replaces what it had.
/// </summary>
public sealed record OfflineKit(
    Guid EventId, string EventTitle, string EventStatus, long Version, bool Full, IReadOnlyList<KitPublicKey> PublicKeys,
    IReadOnlyList<KitTicket> Valid, IReadOnlyList<KitRevokedTicket> Revoked, IReadOnlyList<KitAdmission> Admitted);

public sealed class OfflineKitHandler(Database database, TicketSigner signer, TimeProvider clock)
{
    public static readonly TimeSpan Overlap = TimeSpan.FromMinutes(5);

    private const string ReadKey = "select id, event_id as EventId, revoked_at is not null as Revoked from scanner_keys where key_hash = @KeyHash";

    // Planned for the values of each call, also once Npgsql has prepared the statements: the
    // generic plan a prepared statement settles on assumes an average event and a third of all
    // payments changed, and for a large event's changes it reads every payment of the event by key
    // (docs/benchmarks-notes.md, "Offline kit query").
    private const string ReadEvent = """
        set local plan_cache_mode = force_custom_plan;
        select title, status, cancelled_at as CancelledAt from events where id = @EventId;
        """;

    // Each ticket's member and payment come by primary key, row by row (a scalar subquery is always
    // run per row): joined, the planner may hash all of members and payments for a large event, a
    // read that grows with those tables rather than with the event.
    private const string Tickets = """
        select r.id as RegistrationId, (select m.name from members m where m.id = r.member_id) as MemberName, r.status,
               (select p.refund_status from payments p where p.payment_id = r.payment_id) as RefundStatus
          from event_registrations r
        """;

    private const string Kept = "r.status in ('paid', 'refunded', 'refund_due', 'cancelled')";

    private const string AllTickets = $"{Tickets} where r.event_id = @EventId and {Kept} order by r.id;";

    // A ticket is sent again when its registration or its payment (a refund made due: the
    // registration stays paid) changed since the version, so no ticket stays valid on a phone that
    // merges changes; an event cancelled since sends them all (ReadAsync). Each branch is found from
    // what changed, by index: the event's registrations by updated_at, and the payments by
    // updated_at (0020) joined to the event's registrations, so a poll costs what changed rather
    // than every payment of the event.
    private const string ChangedTickets = $"""
        {Tickets}
         where r.id in (select id from event_registrations where event_id = @EventId and updated_at >= @Since
                        union all
                        select c.id from payments p join event_registrations c on c.payment_id = p.payment_id
                         where p.updated_at >= @Since and c.event_id = @EventId)
           and {Kept}
         order by r.id;
        """;

    private const string Admissions = "select registration_id as RegistrationId, admitted_at as AdmittedAt, scanner_id as ScannerId from checkins";

    private const string AllAdmissions = $"{Admissions} where event_id = @EventId order by registration_id;";

    private const string AdmissionsSince = $"{Admissions} where event_id = @EventId and recorded_at >= @Since order by registration_id;";

    public Task<ApiResult> ReadAsync(ScannerCredential credential, Guid eventId, long? since, CancellationToken cancellationToken) =>
        database.RunAsync("checkin_offline_kit", async connection =>
        {
            if (credential is ScannerCredential.ScannerKey key)
            {
                var row = await connection.QuerySingleOrDefaultAsync<CheckinHandler.ScannerKeyRow>(ReadKey, new { KeyHash = key.Hash });
                var (_, _, refusal) = CheckinHandler.Door(new Scan(credential, new TicketClaims(Guid.Empty, Guid.Empty), "", Guid.Empty, eventId), row);
                if (refusal is not null)
                {
                    return refusal.ToResult();
                }
            }

            var version = clock.GetUtcNow();
            DateTime? from = since is { } s ? DateTimeOffset.FromUnixTimeMilliseconds(s).UtcDateTime - Overlap : null;

            // One snapshot for the reads, so a ticket refunded between them is not listed valid and revoked.
            await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
            if (await connection.QuerySingleOrDefaultAsync<(string Title, string Status, DateTime? CancelledAt)?>(ReadEvent, new { EventId = eventId }, transaction)
                is not { } ev)
            {
                return Problems.EventNotFound();
            }

            // Separate statements for the whole kit and for changes, rather than one with "@Since is
            // null or …" whose OR across three tables no index can answer.
            var allTickets = from is null || ev.CancelledAt >= from;
            var sql = (allTickets ? AllTickets : ChangedTickets) + (from is null ? AllAdmissions : AdmissionsSince);
            await using var read = await connection.QueryMultipleAsync(sql, new { EventId = eventId, Since = from }, transaction);
            var tickets = (await read.ReadAsync<(Guid RegistrationId, string MemberName, string Status, string? RefundStatus)>())
                .Select(t => (t.RegistrationId, t.MemberName, Check: TicketVerifier.Judge(new TicketClaims(t.RegistrationId, eventId), t.Status, ev.Status, t.RefundStatus)))
                .ToList();
            var admitted = (await read.ReadAsync<KitAdmission>()).ToList();
            await transaction.CommitAsync(cancellationToken);

            var keys = new List<KitPublicKey> { new("current", signer.PublicKeyPem) };
            if (signer.PreviousPublicKeyPem is { } previous)
            {
                keys.Add(new KitPublicKey("previous", previous));
            }

            var kit = new OfflineKit(eventId, ev.Title, ev.Status, version.ToUnixTimeMilliseconds(), since is null, keys,
                tickets.Where(t => t.Check.Verdict == TicketVerdict.Valid).Select(t => new KitTicket(t.RegistrationId, t.MemberName)).ToList(),
                tickets.Where(t => t.Check.Verdict != TicketVerdict.Valid).Select(t => new KitRevokedTicket(t.RegistrationId, t.MemberName, t.Check.Reason!)).ToList(),
                admitted);
            var result = ApiResult.Ok(kit);
            result.Headers["Cache-Control"] = "no-store";
            return result;
        }, cancellationToken);
}
