using System.Text.Json;
using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Http;
using EventRegistration.Functions.Tickets;

namespace EventRegistration.Functions.Checkins;

/// <summary>One scan made offline: its signature already checked (claims null: not a ticket this app signed).</summary>
public sealed record OfflineScan(ScanFields Fields, DateTime ScannedAt, TicketClaims? Claims);

/// <summary>
/// Applies up to 5,000 offline scans in one transaction. A nonce seen before gets its stored
/// answer. The tickets' registrations are locked in id order (so two batches, or a batch and an
/// online scan, cannot deadlock), then each ticket's scans are taken in the order they were made
/// on the devices: the earliest admits, every later one is a conflict naming both scanners, kept
/// in <c>checkin_conflicts</c>. An online admission made later than an offline scan gives way
/// to it, and becomes the conflict. Nothing a door did is dropped.
/// </summary>
public sealed class CheckinBatchHandler(Database database, TimeProvider clock)
{
    public const int MaxScans = 5000;

    private const string Read = """
        select nonce, registration_id as RegistrationId, scanner_id as ScannerId, credential, status_code as StatusCode, answer, source
          from checkin_scans where nonce = any(@Nonces);
        select id, event_id as EventId, revoked_at is not null as Revoked from scanner_keys where key_hash = @KeyHash;
        select r.id as RegistrationId, r.event_id as EventId, r.status as RegistrationStatus, e.status as EventStatus,
               e.title as EventTitle, m.name as MemberName
          from event_registrations r join events e on e.id = r.event_id join members m on m.id = r.member_id
         where r.id = any(@RegistrationIds)
         order by r.id
           for no key update of r;
        select r.id as RegistrationId, p.refund_status as RefundStatus
          from event_registrations r join payments p on p.payment_id = r.payment_id
         where r.id = any(@RegistrationIds) and p.refund_status is not null;
        select registration_id as RegistrationId, admitted_at as AdmittedAt, scanner_id as ScannerId, nonce
          from checkins where registration_id = any(@RegistrationIds);
        """;

    private const string Write = """
        insert into checkins (registration_id, event_id, admitted_at, scanner_id, nonce, source, recorded_at)
        select r, @EventId, a, s, n, 'offline', @Now
          from unnest(@AdmitRegistrations::uuid[], @AdmitTimes::timestamptz[], @AdmitScanners::text[], @AdmitNonces::uuid[]) as t(r, a, s, n)
        on conflict (registration_id) do update
           set admitted_at = excluded.admitted_at, scanner_id = excluded.scanner_id, nonce = excluded.nonce,
               source = 'offline', recorded_at = excluded.recorded_at;
        insert into checkin_conflicts (event_id, registration_id, admitted_nonce, admitted_scanner_id, admitted_at,
                                       later_nonce, later_scanner_id, later_scanned_at, recorded_at)
        select @EventId, r, an, ascan, aat, ln, lscan, lat, @Now
          from unnest(@ConflictRegistrations::uuid[], @ConflictAdmittedNonces::uuid[], @ConflictAdmittedScanners::text[],
                      @ConflictAdmittedTimes::timestamptz[], @ConflictLaterNonces::uuid[], @ConflictLaterScanners::text[],
                      @ConflictLaterTimes::timestamptz[]) as t(r, an, ascan, aat, ln, lscan, lat)
        on conflict (later_nonce) do nothing;
        insert into checkin_scans (nonce, event_id, registration_id, scanner_id, credential, scanned_at, recorded_at, source, outcome, status_code, answer)
        select n, @EventId, r, s, @Credential, a, @Now, 'offline', o, c, t
          from unnest(@ScanNonces::uuid[], @ScanRegistrations::uuid[], @ScanScanners::text[], @ScanTimes::timestamptz[],
                      @ScanOutcomes::text[], @ScanCodes::int[], @ScanAnswers::text[]) as u(n, r, s, a, o, c, t);
        """;

    public Task<CheckinAnswer> ApplyAsync(ScannerCredential credential, Guid? eventId, IReadOnlyList<OfflineScan> scans, CancellationToken cancellationToken) =>
        database.InTransactionAsync("checkin_batch", async (connection, transaction) =>
        {
            var verified = scans.Where(s => s.Claims is not null).ToList();
            var nonces = verified.Select(s => s.Fields.Nonce).Distinct().ToArray();
            var registrationIds = verified.Select(s => s.Claims!.RegistrationId).Distinct().ToArray();
            var keyHash = credential is ScannerCredential.ScannerKey key ? key.Hash : null;
            Dictionary<Guid, CheckinHandler.StoredScan> stored;
            CheckinHandler.ScannerKeyRow? keyRow;
            Dictionary<Guid, DoorTicket> tickets;
            Dictionary<Guid, Admission> admissions;
            await using (var read = await connection.QueryMultipleAsync(Read, new { Nonces = nonces, KeyHash = keyHash, RegistrationIds = registrationIds }, transaction))
            {
                stored = (await read.ReadAsync<CheckinHandler.StoredScan>()).ToDictionary(s => s.Nonce);
                keyRow = await read.ReadSingleOrDefaultAsync<CheckinHandler.ScannerKeyRow>();
                tickets = (await read.ReadAsync<DoorTicket>()).ToDictionary(t => t.RegistrationId);
                foreach (var (registrationId, refundStatus) in await read.ReadAsync<(Guid, string)>())
                {
                    tickets[registrationId] = tickets[registrationId] with { RefundStatus = refundStatus };
                }

                admissions = (await read.ReadAsync<AdmissionRow>()).ToDictionary(a => a.RegistrationId, a => new Admission(a.AdmittedAt, a.ScannerId, a.Nonce));
            }

            var (door, credentialName, refusal) = CheckinHandler.Door(new Scan(credential, new TicketClaims(Guid.Empty, Guid.Empty), "", Guid.Empty, eventId), keyRow);
            if (refusal is not null)
            {
                return refusal;
            }

            var now = clock.GetUtcNow().UtcDateTime;
            now = new DateTime(now.Ticks - now.Ticks % 10, DateTimeKind.Utc);
            var writes = new Writes();
            var answers = new Dictionary<Guid, string>();

            // Each ticket's scans in the order they were made; ties broken by nonce, so a batch sent twice decides alike.
            foreach (var scan in verified.OrderBy(s => s.ScannedAt).ThenBy(s => s.Fields.Nonce))
            {
                var nonce = scan.Fields.Nonce;
                if (answers.ContainsKey(nonce))
                {
                    continue;
                }

                var claims = scan.Claims!;
                if (stored.TryGetValue(nonce, out var before))
                {
                    answers[nonce] = !before.SameScan(claims.RegistrationId, scan.Fields.ScannerId, credentialName)
                        ? Item(nonce, "refused", new { type = NonceReusedType })
                        : before.Source == "offline"
                            ? before.Answer
                            // The scan reached the server online and its answer was lost on the way back, so the phone
                            // queued it: its result is the online answer, under its nonce, so the phone can let it go.
                            : Item(nonce, before.StatusCode == 200 ? "admitted" : "refused", new { answeredOnline = new StoredJson(before.Answer) });
                    continue;
                }

                tickets.TryGetValue(claims.RegistrationId, out var ticket);
                string outcome;
                int code;
                string answer;
                if (CheckinRules.Refusal(door, claims, ticket) is { } reason)
                {
                    var problem = (ProblemDocument)CheckinRules.RefusedAnswer(reason, claims, ticket).Body;
                    (outcome, code) = (reason, 409);
                    answer = Item(nonce, "refused", new { type = problem.Type, registrationId = claims.RegistrationId, memberName = reason == CheckinRules.OtherEvent ? null : ticket?.MemberName });
                }
                else if (admissions.TryGetValue(claims.RegistrationId, out var admitted) && admitted.AdmittedAt <= scan.ScannedAt)
                {
                    (outcome, code) = (CheckinRules.Conflict, 409);
                    writes.Conflict(claims.RegistrationId, admitted, scan);
                    answer = Item(nonce, "conflict", new
                    {
                        registrationId = claims.RegistrationId, memberName = ticket!.MemberName, scannerId = scan.Fields.ScannerId, scannedAt = scan.ScannedAt,
                        admittedBy = admitted.ScannerId, admittedAt = admitted.AdmittedAt,
                    });
                }
                else
                {
                    // First scan of this ticket, or earlier than the admission recorded so far: it admits, the other is the conflict.
                    (outcome, code) = (CheckinRules.Admitted, 200);
                    writes.Admit(claims.RegistrationId, scan);
                    object? displaced = null;
                    if (admitted is not null)
                    {
                        writes.Conflict(claims.RegistrationId, new Admission(scan.ScannedAt, scan.Fields.ScannerId, nonce),
                            new OfflineScan(new ScanFields("", admitted.ScannerId, admitted.Nonce), admitted.AdmittedAt, claims));
                        displaced = new { scannerId = admitted.ScannerId, scannedAt = admitted.AdmittedAt };
                    }

                    admissions[claims.RegistrationId] = new Admission(scan.ScannedAt, scan.Fields.ScannerId, nonce);
                    answer = Item(nonce, "admitted", new
                    {
                        registrationId = claims.RegistrationId, memberName = ticket!.MemberName, scannerId = scan.Fields.ScannerId, admittedAt = scan.ScannedAt,
                        laterScan = displaced,
                    });
                }

                answers[nonce] = answer;
                writes.Scan(nonce, claims.RegistrationId, scan, outcome, code, answer);
            }

            await connection.ExecuteAsync(Write, writes.Parameters(door, credentialName, now), transaction);
            var items = scans.Select(s => answers.TryGetValue(s.Fields.Nonce, out var a) && s.Claims is not null
                ? a
                : Item(s.Fields.Nonce, "refused", new { type = TicketInvalidType }));
            return new CheckinAnswer(200, "application/json", "{\"results\":[" + string.Join(",", items) + "]}");
        }, cancellationToken);

    private static readonly string TicketInvalidType = ((ProblemDocument)Problems.TicketInvalid().Body).Type;
    private static readonly string NonceReusedType = ((ProblemDocument)Problems.NonceReused().Body).Type;

    /// <summary>One result: the nonce and outcome first, then what the outcome says.</summary>
    private static string Item(Guid nonce, string outcome, object details)
    {
        var head = JsonSerializer.Serialize(new { nonce, outcome }, ApiResult.Json);
        var rest = JsonSerializer.Serialize(details, ApiResult.Json);
        return rest == "{}" ? head : head[..^1] + "," + rest[1..];
    }

    private sealed record AdmissionRow(Guid RegistrationId, DateTime AdmittedAt, string ScannerId, Guid Nonce);

    /// <summary>The rows one batch writes, as columns for unnest: three statements, one round trip.</summary>
    private sealed class Writes
    {
        private readonly Dictionary<Guid, OfflineScan> _admit = [];
        private readonly List<(Guid Registration, Admission Admitted, OfflineScan Later)> _conflicts = [];
        private readonly List<(Guid Nonce, Guid Registration, OfflineScan Scan, string Outcome, int Code, string Answer)> _scans = [];

        public void Admit(Guid registrationId, OfflineScan scan) => _admit[registrationId] = scan;

        public void Conflict(Guid registrationId, Admission admitted, OfflineScan later) => _conflicts.Add((registrationId, admitted, later));

        public void Scan(Guid nonce, Guid registrationId, OfflineScan scan, string outcome, int code, string answer) =>
            _scans.Add((nonce, registrationId, scan, outcome, code, answer));

        public object Parameters(Guid eventId, string credential, DateTime now) => new
        {
            EventId = eventId,
            Credential = credential,
            Now = now,
            AdmitRegistrations = _admit.Keys.ToArray(),
            AdmitTimes = _admit.Values.Select(s => s.ScannedAt).ToArray(),
            AdmitScanners = _admit.Values.Select(s => s.Fields.ScannerId).ToArray(),
            AdmitNonces = _admit.Values.Select(s => s.Fields.Nonce).ToArray(),
            ConflictRegistrations = _conflicts.Select(c => c.Registration).ToArray(),
            ConflictAdmittedNonces = _conflicts.Select(c => c.Admitted.Nonce).ToArray(),
            ConflictAdmittedScanners = _conflicts.Select(c => c.Admitted.ScannerId).ToArray(),
            ConflictAdmittedTimes = _conflicts.Select(c => c.Admitted.AdmittedAt).ToArray(),
            ConflictLaterNonces = _conflicts.Select(c => c.Later.Fields.Nonce).ToArray(),
            ConflictLaterScanners = _conflicts.Select(c => c.Later.Fields.ScannerId).ToArray(),
            ConflictLaterTimes = _conflicts.Select(c => c.Later.ScannedAt).ToArray(),
            ScanNonces = _scans.Select(s => s.Nonce).ToArray(),
            ScanRegistrations = _scans.Select(s => s.Registration).ToArray(),
            ScanScanners = _scans.Select(s => s.Scan.Fields.ScannerId).ToArray(),
            ScanTimes = _scans.Select(s => s.Scan.ScannedAt).ToArray(),
            ScanOutcomes = _scans.Select(s => s.Outcome).ToArray(),
            ScanCodes = _scans.Select(s => s.Code).ToArray(),
            ScanAnswers = _scans.Select(s => s.Answer).ToArray(),
        };
    }
}
