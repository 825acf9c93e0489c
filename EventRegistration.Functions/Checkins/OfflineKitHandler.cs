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

    // A ticket is sent again when its registration, its payment (a refund made due: the registration
    // stays paid) or the event's cancellation changed since the version, so no ticket stays valid on a
    // phone that merges changes.
    private const string ReadKit = """
        select title, status from events where id = @EventId;
        select r.id as RegistrationId, m.name as MemberName, r.status, p.refund_status as RefundStatus
          from event_registrations r join members m on m.id = r.member_id join events e on e.id = r.event_id
          left join payments p on p.payment_id = r.payment_id
         where r.event_id = @EventId and r.status in ('paid', 'refunded', 'refund_due', 'cancelled')
           and (@Since::timestamptz is null or r.updated_at >= @Since or p.updated_at >= @Since or e.cancelled_at >= @Since)
         order by r.id;
        select registration_id as RegistrationId, admitted_at as AdmittedAt, scanner_id as ScannerId
          from checkins where event_id = @EventId and (@Since::timestamptz is null or recorded_at >= @Since)
         order by registration_id;
        """;

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

            // One snapshot for the three reads, so a ticket refunded between them is not listed valid and revoked.
            await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
            await using var read = await connection.QueryMultipleAsync(ReadKit, new { EventId = eventId, Since = from }, transaction);
            if (await read.ReadSingleOrDefaultAsync<(string Title, string Status)?>() is not { } ev)
            {
                return Problems.EventNotFound();
            }

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
