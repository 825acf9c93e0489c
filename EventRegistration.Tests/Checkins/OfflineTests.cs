using System.Text.Json;
using EventRegistration.Tests.Admin;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Checkins;

/// <summary>The offline kit and the batch upload of scans made without the network.</summary>
public sealed class OfflineTests(TestApp app) : IClassFixture<TestApp>
{
    private const string Problem = "urn:eventregistration:problem:";

    [Fact]
    public async Task The_kit_holds_the_keys_the_valid_and_revoked_tickets_and_who_is_in_and_then_only_changes()
    {
        var eventId = await app.CreateEventAsync();
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var admittedId = await app.PaidRegistrationAsync(eventId, "In Already");
        var validId = await app.PaidRegistrationAsync(eventId, "Still Outside");
        var refundedId = await app.PaidRegistrationAsync(eventId, "Refunded Person");
        await app.RefundThroughLedgerAsync(refundedId);
        Assert.Equal(200, (await app.ScanAsync(key, app.TokenFor(admittedId, eventId), scannerId: "north")).Status);
        app.Clock.Advance(TimeSpan.FromMinutes(10));

        var kit = await app.OfflineKitAsync(eventId.ToString(), CheckinCalls.WithScannerKey(key));

        Assert.Equal(200, kit.Status);
        var json = kit.Json;
        Assert.True(json.GetProperty("full").GetBoolean());
        Assert.Equal("Test event", json.GetProperty("eventTitle").GetString());
        Assert.Equal(TestTicketKey.PublicKeyPem, json.GetProperty("publicKeys")[0].GetProperty("pem").GetString());
        Assert.Equal("current", json.GetProperty("publicKeys")[0].GetProperty("use").GetString());
        Assert.Equal(1, json.GetProperty("publicKeys").GetArrayLength());
        var valid = json.GetProperty("valid").EnumerateArray().Select(t => t.GetProperty("registrationId").GetGuid()).ToHashSet();
        Assert.Equal(new[] { admittedId, validId }.Order(), valid.Order());
        var revoked = Assert.Single(json.GetProperty("revoked").EnumerateArray());
        Assert.Equal((refundedId, "refunded", "Refunded Person"),
            (revoked.GetProperty("registrationId").GetGuid(), revoked.GetProperty("reason").GetString(), revoked.GetProperty("memberName").GetString()));
        var admitted = Assert.Single(json.GetProperty("admitted").EnumerateArray());
        Assert.Equal((admittedId, "north"), (admitted.GetProperty("registrationId").GetGuid(), admitted.GetProperty("scannerId").GetString()));

        // Ten minutes on: only what changed since the version (and the overlap before it) comes back.
        var version = json.GetProperty("version").GetInt64();
        app.Clock.Advance(TimeSpan.FromMinutes(10));
        var later = await app.PaidRegistrationAsync(eventId, "Late Buyer");
        Assert.Equal(200, (await app.ScanAsync(key, app.TokenFor(validId, eventId), scannerId: "south")).Status);
        var changes = (await app.OfflineKitAsync(eventId.ToString(), CheckinCalls.WithScannerKey(key), $"?since={version}")).Json;
        Assert.False(changes.GetProperty("full").GetBoolean());
        Assert.Equal([later], changes.GetProperty("valid").EnumerateArray().Select(t => t.GetProperty("registrationId").GetGuid()));
        Assert.Empty(changes.GetProperty("revoked").EnumerateArray());
        Assert.Equal([validId], changes.GetProperty("admitted").EnumerateArray().Select(t => t.GetProperty("registrationId").GetGuid()));
        Assert.True(changes.GetProperty("version").GetInt64() > version);
    }

    [Fact]
    public async Task The_kit_is_for_the_keys_event_only_and_bad_requests_get_their_problem()
    {
        var eventId = await app.CreateEventAsync();
        var (keyId, key) = await app.ScannerKeyAsync(eventId);
        var (_, otherKey) = await app.ScannerKeyAsync(await app.CreateEventAsync());

        Assert.Equal(Problem + "scanner-key-other-event", (await app.OfflineKitAsync(eventId.ToString(), CheckinCalls.WithScannerKey(otherKey))).ProblemType);
        Assert.Equal(Problem + "scanner-unauthenticated", (await app.OfflineKitAsync(eventId.ToString(), new Dictionary<string, string[]>())).ProblemType);
        Assert.Equal(Problem + "invalid-field", (await app.OfflineKitAsync(eventId.ToString(), CheckinCalls.WithScannerKey(key), "?since=yesterday")).ProblemType);
        Assert.Equal(Problem + "invalid-field", (await app.OfflineKitAsync("nope", CheckinCalls.WithScannerKey(key))).ProblemType);
        Assert.Equal(Problem + "event-not-found", (await app.OfflineKitAsync(Guid.NewGuid().ToString(), AdminKeys.With(AdminKeys.Organiser))).ProblemType);
        Assert.Equal(200, (await app.OfflineKitAsync(eventId.ToString(), AdminKeys.With(AdminKeys.Organiser))).Status);
        await app.RevokeScannerKeyAsync(keyId.ToString());
        Assert.Equal(Problem + "scanner-key-revoked", (await app.OfflineKitAsync(eventId.ToString(), CheckinCalls.WithScannerKey(key))).ProblemType);
    }

    [Fact]
    public async Task A_ticket_scanned_at_two_doors_offline_is_admitted_by_the_earliest_scan_and_the_later_is_a_conflict_with_both_scanners()
    {
        var eventId = await app.CreateEventAsync();
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var ticket = await app.PaidRegistrationAsync(eventId, "Two Doors");
        var single = await app.PaidRegistrationAsync(eventId, "One Door");
        var refunded = await app.PaidRegistrationAsync(eventId, "Refunded");
        await app.RefundThroughLedgerAsync(refunded);
        var t0 = DateTimeOffset.FromUnixTimeSeconds(app.Clock.GetUtcNow().ToUnixTimeSeconds() - 1800);
        var token = app.TokenFor(ticket, eventId);

        // The south door uploads first, though its scan came 40 s after the north door's.
        var southNonce = Guid.NewGuid();
        var south = await app.BatchAsync(key,
            OfflineCalls.OfflineScan(token, "south", t0.AddSeconds(40), southNonce),
            OfflineCalls.OfflineScan(app.TokenFor(single, eventId), "south", t0.AddSeconds(50)),
            OfflineCalls.OfflineScan(app.TokenFor(refunded, eventId), "south", t0.AddSeconds(55)),
            OfflineCalls.OfflineScan(WithSignatureByteChanged(token), "south", t0.AddSeconds(56)));
        Assert.Equal(200, south.Status);
        var southResults = south.Json.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(["admitted", "admitted", "refused", "refused"], southResults.Select(r => r.GetProperty("outcome").GetString()));
        Assert.Equal(Problem + "ticket-refunded", southResults[2].GetProperty("type").GetString());
        Assert.Equal(Problem + "ticket-invalid", southResults[3].GetProperty("type").GetString());

        var northNonce = Guid.NewGuid();
        var north = await app.BatchAsync(key, OfflineCalls.OfflineScan(token, "north", t0, northNonce));
        var northResult = Assert.Single(north.Json.GetProperty("results").EnumerateArray());
        Assert.Equal("admitted", northResult.GetProperty("outcome").GetString());
        Assert.Equal("south", northResult.GetProperty("laterScan").GetProperty("scannerId").GetString());

        var admission = (await app.QueryAsync<(string ScannerId, DateTime AdmittedAt, Guid Nonce)>(
            "select scanner_id, admitted_at, nonce from checkins where registration_id = @ticket", new { ticket })).Single();
        Assert.Equal(("north", t0.UtcDateTime, northNonce), admission);
        var conflict = (await app.QueryAsync<(string Admitted, string Later, Guid LaterNonce)>(
            "select admitted_scanner_id, later_scanner_id, later_nonce from checkin_conflicts where registration_id = @ticket", new { ticket })).Single();
        Assert.Equal(("north", "south", southNonce), conflict);

        // A third door, later still: a conflict, reported with both scanners, and kept.
        var east = await app.BatchAsync(key, OfflineCalls.OfflineScan(token, "east", t0.AddMinutes(2)));
        var eastResult = Assert.Single(east.Json.GetProperty("results").EnumerateArray());
        Assert.Equal(("conflict", "east", "north"),
            (eastResult.GetProperty("outcome").GetString(), eastResult.GetProperty("scannerId").GetString(), eastResult.GetProperty("admittedBy").GetString()));
        Assert.Equal(2, await app.ScalarAsync<long>("select count(*) from checkin_conflicts where registration_id = @ticket", new { ticket }));

        // An online scan afterwards: already admitted, by the north door.
        var online = await app.ScanAsync(key, token);
        Assert.Equal("north", online.Json.GetProperty("admittedBy").GetString());
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Offline_batches_and_online_scans_of_one_ticket_racing_leave_one_admission_the_earliest_and_lose_no_scan()
    {
        var eventId = await app.CreateEventAsync();
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var ticket = await app.PaidRegistrationAsync(eventId, "Everyone's Ticket");
        var token = app.TokenFor(ticket, eventId);
        var t0 = DateTimeOffset.FromUnixTimeSeconds(app.Clock.GetUtcNow().ToUnixTimeSeconds() - 600);
        var batchNonces = Enumerable.Range(0, 10).Select(_ => Guid.NewGuid()).ToArray();
        using var start = new ManualResetEventSlim();

        var batches = batchNonces.Select((nonce, i) => Task.Run(async () =>
        {
            start.Wait();
            return await app.BatchAsync(key, OfflineCalls.OfflineScan(token, "offline-" + i, t0.AddSeconds(i), nonce));
        })).ToList();
        var onlines = Enumerable.Range(0, 10).Select(i => Task.Run(async () =>
        {
            start.Wait();
            return await app.ScanAsync(key, token, scannerId: "online-" + i);
        })).ToList();
        start.Set();
        var batchAnswers = await Task.WhenAll(batches);
        var onlineAnswers = await Task.WhenAll(onlines);

        Assert.All(batchAnswers, a => Assert.Equal(200, a.Status));
        Assert.True(onlineAnswers.Count(a => a.Status == 200) <= 1);
        Assert.All(onlineAnswers, a => Assert.True(a.Status is 200 or 409, a.ToString()));
        var admission = (await app.QueryAsync<(Guid Nonce, string ScannerId)>(
            "select nonce, scanner_id from checkins where registration_id = @ticket", new { ticket })).Single();
        Assert.Equal((batchNonces[0], "offline-0"), admission);
        Assert.Equal(20, await app.ScalarAsync<long>("select count(*) from checkin_scans where registration_id = @ticket", new { ticket }));
        // Every offline scan but the earliest is a conflict, and so is an online admission the earliest displaced.
        var conflicts = await app.ScalarAsync<long>("select count(*) from checkin_conflicts where registration_id = @ticket", new { ticket });
        Assert.Equal(9 + (onlineAnswers.Any(a => a.Status == 200) ? 1 : 0), conflicts);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_batch_sent_again_gets_the_same_answer_and_changes_nothing()
    {
        var eventId = await app.CreateEventAsync();
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var a = await app.PaidRegistrationAsync(eventId);
        var t0 = app.Clock.GetUtcNow().AddMinutes(-5);
        var body = JsonSerializer.Serialize(new
        {
            scans = new[]
            {
                OfflineCalls.OfflineScan(app.TokenFor(a, eventId), "d1", t0),
                OfflineCalls.OfflineScan(app.TokenFor(a, eventId), "d2", t0.AddSeconds(5)),
            },
        });

        var first = await app.BatchRawAsync(body, CheckinCalls.WithScannerKey(key));
        var counts = await CountsAsync();
        app.Clock.Advance(TimeSpan.FromMinutes(1));
        var again = await app.BatchRawAsync(body, CheckinCalls.WithScannerKey(key));

        Assert.Equal(200, first.Status);
        Assert.Equal(first.Body, again.Body);
        Assert.Equal(counts, await CountsAsync());
        Assert.Equal(["admitted", "conflict"], first.Json.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("outcome").GetString()));
    }

    [Fact]
    public async Task A_scan_that_reached_the_server_before_the_network_failed_is_answered_in_the_batch_under_its_nonce()
    {
        // The page sent the scan online, the answer was lost, so it decided offline and queued the same nonce.
        var eventId = await app.CreateEventAsync();
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var ticket = await app.PaidRegistrationAsync(eventId, "Lost Answer");
        var token = app.TokenFor(ticket, eventId);
        var nonce = Guid.NewGuid();
        var online = await app.ScanAsync(key, token, nonce, scannerId: "gate");
        Assert.Equal(200, online.Status);

        var batch = await app.BatchAsync(key, OfflineCalls.OfflineScan(token, "gate", app.Clock.GetUtcNow(), nonce));

        var result = Assert.Single(batch.Json.GetProperty("results").EnumerateArray());
        Assert.Equal((nonce, "admitted"), (result.GetProperty("nonce").GetGuid(), result.GetProperty("outcome").GetString()));
        Assert.Equal(online.Body, result.GetProperty("answeredOnline").GetRawText());
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from checkin_scans where registration_id = @ticket", new { ticket }));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from checkin_conflicts where registration_id = @ticket", new { ticket }));
    }

    [Fact]
    public async Task Five_thousand_scans_are_taken_and_more_are_refused()
    {
        var eventId = await app.CreateEventAsync(capacity: null);
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var registrations = await app.QueryAsync<Guid>("""
            with m as (insert into members (id, name, phone_e164) select gen_random_uuid(), 'Bulk ' || n, '+919800000000' from generate_series(1, 2500) n returning id)
            insert into event_registrations (id, event_id, member_id, status, payment_id, amount_paise, currency, paid_at)
            select gen_random_uuid(), @eventId, id, 'paid', 'pay_Bulk' || replace(gen_random_uuid()::text, '-', ''), 50000, 'INR', now() from m
            returning id
            """, new { eventId });
        // Seat counts and payment records as a confirmation would leave them, so the invariants hold.
        await app.ExecuteAsync("""
            update events set attendee_count = attendee_count + 2500 where id = @eventId;
            insert into payments (payment_id, registration_id, amount_paise, currency, status, disposition, source)
            select payment_id, id, 50000, 'INR', 'captured', 'applied', 'checkout' from event_registrations where event_id = @eventId and payment_id like 'pay_Bulk%';
            insert into ticket_deliveries (registration_id, status) select id, 'queued' from event_registrations where event_id = @eventId and payment_id like 'pay_Bulk%'
                on conflict do nothing;
            """, new { eventId });
        var t0 = app.Clock.GetUtcNow().AddHours(-1);
        var scans = registrations.SelectMany((r, i) => new[]
        {
            OfflineCalls.OfflineScan(app.TokenFor(r, eventId), "a", t0.AddMilliseconds(i)),
            OfflineCalls.OfflineScan(app.TokenFor(r, eventId), "b", t0.AddMilliseconds(i + 1)),
        }).ToArray();

        var answer = await app.BatchAsync(key, scans);

        Assert.Equal(200, answer.Status);
        var outcomes = answer.Json.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("outcome").GetString()).ToList();
        Assert.Equal(2500, outcomes.Count(o => o == "admitted"));
        Assert.Equal(2500, outcomes.Count(o => o == "conflict"));
        Assert.Equal(2500, await app.ScalarAsync<long>("select count(*) from checkins where event_id = @eventId", new { eventId }));
        Assert.Equal(5000, await app.ScalarAsync<long>("select count(*) from checkin_scans where event_id = @eventId", new { eventId }));

        var tooMany = await app.BatchAsync(key, scans.Append(scans[0]).ToArray());
        Assert.Equal((400, Problem + "invalid-field"), (tooMany.Status, tooMany.ProblemType));
        await app.AssertAllAsync();
    }

    [Theory]
    [InlineData("""{}""", "missing-field", "scans")]
    [InlineData("""{"scans":[]}""", "invalid-field", "scans")]
    [InlineData("""{"scans":[5]}""", "invalid-field", "scans[0]")]
    [InlineData("""{"scans":[{"token":"x","scannerId":"d","nonce":"6f1c2a1e-0000-4000-8000-000000000001"}]}""", "missing-field", "scans[0].scannedAt")]
    [InlineData("""{"scans":[{"token":"x","scannerId":"d","nonce":"6f1c2a1e-0000-4000-8000-000000000001","scannedAt":"2026-11-25T10:00:00"}]}""", "invalid-field", "scans[0].scannedAt")]
    [InlineData("""{"scans":[{"token":"x","scannerId":"d","nonce":"6f1c2a1e-0000-4000-8000-000000000001","scannedAt":"1999-11-25T10:00:00Z"}]}""", "invalid-field", "scans[0].scannedAt")]
    [InlineData("""{"scans":[{"token":"x","scannerId":"d","nonce":"bad","scannedAt":"2026-11-25T10:00:00Z"}]}""", "invalid-field", "scans[0].nonce")]
    public async Task A_malformed_batch_is_refused_whole_naming_the_item_and_field(string body, string type, string field)
    {
        var before = await CountsAsync();
        var answer = await app.BatchRawAsync(body, CheckinCalls.WithScannerKey("sk_x"));
        Assert.Equal((400, Problem + type, field), (answer.Status, answer.ProblemType, answer.Json.GetProperty("field").GetString()));
        Assert.Equal(before, await CountsAsync());
    }

    private async Task<(long, long, long)> CountsAsync() =>
        (await app.ScalarAsync<long>("select count(*) from checkins"), await app.ScalarAsync<long>("select count(*) from checkin_scans"),
         await app.ScalarAsync<long>("select count(*) from checkin_conflicts"));

    /// <summary>
    /// The token with one signature character replaced by another. Not the last two: writing "AA"
    /// there left the token as it was whenever its signature already ended in "AA", and the last
    /// character also carries bits that decode to nothing (a flake found on 2026-11-26).
    /// </summary>
    private static string WithSignatureByteChanged(string token)
    {
        var i = token.Length - 5;
        return token[..i] + (token[i] == 'A' ? 'B' : 'A') + token[(i + 1)..];
    }
}
