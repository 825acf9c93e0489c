using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Tickets;
using Npgsql;

namespace EventRegistration.Functions.Checkins;

/// <summary>One scan at the door, after its signature verified: who scans, which ticket, which nonce.</summary>
public sealed record Scan(ScannerCredential Credential, TicketClaims Claims, string ScannerId, Guid Nonce, Guid? EventId);

/// <summary>
/// Admits a paid registration exactly once, in one transaction: the nonce's stored answer first (a
/// retry gets its first answer back and changes nothing), then the scanner key, then the
/// registration row locked (FOR NO KEY UPDATE: scans of one ticket queue on it, and a refund or
/// cancellation cannot change it between the judgement and the admission), then its payment's refund
/// state (an operator's refund locks the registration row while it makes the payment due, so this
/// later statement sees it), then its admission. A ticket admitted before its refund stays admitted.
/// Every answer given from here is stored with the nonce, refusals included.
/// </summary>
public sealed class CheckinHandler(Database database, TimeProvider clock)
{
    internal const string Read = """
        select nonce, registration_id as RegistrationId, scanner_id as ScannerId, credential, status_code as StatusCode, answer, source
          from checkin_scans where nonce = @Nonce;
        select id, event_id as EventId, revoked_at is not null as Revoked from scanner_keys where key_hash = @KeyHash;
        select r.id as RegistrationId, r.event_id as EventId, r.status as RegistrationStatus, e.status as EventStatus,
               e.title as EventTitle, m.name as MemberName
          from event_registrations r join events e on e.id = r.event_id join members m on m.id = r.member_id
         where r.id = @RegistrationId
           for no key update of r;
        select p.refund_status from event_registrations r join payments p on p.payment_id = r.payment_id where r.id = @RegistrationId;
        select admitted_at as AdmittedAt, scanner_id as ScannerId, nonce from checkins where registration_id = @RegistrationId;
        """;

    internal const string Admit = """
        insert into checkins (registration_id, event_id, admitted_at, scanner_id, nonce, source, recorded_at)
        values (@RegistrationId, @EventId, @Now, @ScannerId, @Nonce, 'online', @Now);
        """;

    internal const string Record = """
        insert into checkin_scans (nonce, event_id, registration_id, scanner_id, credential, scanned_at, recorded_at, source, outcome, status_code, answer)
        values (@Nonce, @EventId, @RegistrationId, @ScannerId, @Credential, @Now, @Now, 'online', @Outcome, @StatusCode, @Answer);
        """;

    public Task<CheckinAnswer> ScanAsync(Scan scan, CancellationToken cancellationToken) =>
        database.InTransactionAsync("checkin", async (connection, transaction) =>
        {
            var keyHash = scan.Credential is ScannerCredential.ScannerKey key ? key.Hash : null;
            StoredScan? stored;
            ScannerKeyRow? keyRow;
            DoorTicket? ticket;
            Admission? admission;
            await using (var read = await connection.QueryMultipleAsync(Read,
                new { scan.Nonce, KeyHash = keyHash, scan.Claims.RegistrationId }, transaction))
            {
                stored = await read.ReadSingleOrDefaultAsync<StoredScan>();
                keyRow = await read.ReadSingleOrDefaultAsync<ScannerKeyRow>();
                ticket = await read.ReadSingleOrDefaultAsync<DoorTicket>();
                var refundStatus = await read.ReadSingleOrDefaultAsync<string?>();
                ticket = ticket is null ? null : ticket with { RefundStatus = refundStatus };
                admission = await read.ReadSingleOrDefaultAsync<Admission>();
            }

            var (door, credential, refusal) = Door(scan, keyRow);
            if (refusal is not null)
            {
                return refusal;
            }

            if (stored is not null)
            {
                return stored.SameScan(scan.Claims.RegistrationId, scan.ScannerId, credential)
                    ? stored.Replay()
                    : CheckinAnswer.From(Infrastructure.Http.Problems.NonceReused());
            }

            var now = Now();
            string outcome;
            CheckinAnswer answer;
            if (CheckinRules.Refusal(door, scan.Claims, ticket) is { } reason)
            {
                (outcome, answer) = (reason, CheckinAnswer.From(CheckinRules.RefusedAnswer(reason, scan.Claims, ticket)));
            }
            else if (admission is not null)
            {
                (outcome, answer) = (CheckinRules.AlreadyAdmitted, CheckinAnswer.From(CheckinRules.AlreadyAdmittedAnswer(ticket!, admission)));
            }
            else
            {
                await connection.ExecuteAsync(Admit, new { ticket!.RegistrationId, ticket.EventId, Now = now, scan.ScannerId, scan.Nonce }, transaction);
                (outcome, answer) = (CheckinRules.Admitted, CheckinAnswer.From(CheckinRules.AdmittedAnswer(ticket, new Admission(now, scan.ScannerId, scan.Nonce))));
            }

            await connection.ExecuteAsync(Record, new
            {
                scan.Nonce, EventId = door, scan.Claims.RegistrationId, scan.ScannerId, Credential = credential,
                Now = now, Outcome = outcome, answer.StatusCode, Answer = answer.Body,
            }, transaction);
            return answer;
        }, cancellationToken);

    /// <summary>The event this scan is for, and how the credential is recorded; or the refusal of the credential.</summary>
    internal static (Guid Door, string Credential, CheckinAnswer? Refusal) Door(Scan scan, ScannerKeyRow? keyRow)
    {
        switch (scan.Credential)
        {
            case ScannerCredential.Admin admin:
                return (scan.EventId!.Value, admin.Actor.Name, null);
            case ScannerCredential.ScannerKey when keyRow is null:
                return (default, "", CheckinAnswer.From(Infrastructure.Http.Problems.ScannerUnauthenticated("The scanner key is not valid.")));
            case ScannerCredential.ScannerKey when keyRow.Revoked:
                return (default, "", CheckinAnswer.From(Infrastructure.Http.Problems.ScannerKeyRevoked()));
            case ScannerCredential.ScannerKey when scan.EventId is { } named && named != keyRow.EventId:
                return (default, "", CheckinAnswer.From(Infrastructure.Http.Problems.ScannerKeyOtherEvent()));
            default:
                return (keyRow!.EventId, ScannerKeys.Credential(keyRow.Id), null);
        }
    }

    /// <summary>Microseconds, as PostgreSQL keeps them: the first answer and a later one read back say the same time.</summary>
    private DateTime Now()
    {
        var now = clock.GetUtcNow().UtcDateTime;
        return new DateTime(now.Ticks - now.Ticks % 10, DateTimeKind.Utc);
    }

    internal sealed record ScannerKeyRow(Guid Id, Guid EventId, bool Revoked);

    internal sealed record StoredScan(Guid Nonce, Guid? RegistrationId, string ScannerId, string Credential, int StatusCode, string Answer, string Source)
    {
        public bool SameScan(Guid registrationId, string scannerId, string credential) =>
            RegistrationId == registrationId && ScannerId == scannerId && Credential == credential;

        public CheckinAnswer Replay() => new(StatusCode, StatusCode == 200 ? "application/json" : Infrastructure.Http.Problems.ContentType, this.Answer);
    }
}
