using System.Text.Json;
using EventRegistration.Functions.Checkins;
using EventRegistration.Tests.Admin;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Checkins;

/// <summary>Organisers create and revoke per-event scanner keys; only the key's hash is stored, the key shown once.</summary>
public sealed class ScannerKeyTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task A_created_key_is_shown_once_stored_as_its_hash_and_audited()
    {
        var eventId = await app.CreateEventAsync();
        var created = await app.CreateScannerKeyRawAsync(eventId.ToString(), """{"name":"North door"}""");

        Assert.Equal(201, created.Status);
        var key = created.Json.GetProperty("key").GetString()!;
        var id = created.Json.GetProperty("id").GetGuid();
        Assert.StartsWith("sk_", key);
        Assert.Equal(ScannerKeys.Header, created.Json.GetProperty("header").GetString());
        Assert.Equal($"/api/checkins/scanner/#event={eventId}&key={key}&scanner=North%20door", created.Json.GetProperty("scannerLink").GetString());
        var stored = await app.QueryAsync<(byte[] Hash, string Name, string CreatedBy)>(
            "select key_hash, name, created_by from scanner_keys where id = @id", new { id });
        Assert.Equal(ScannerKeys.Hash(key), stored.Single().Hash);
        Assert.Equal("North door", stored.Single().Name);
        Assert.StartsWith("key:", stored.Single().CreatedBy);

        // The key appears nowhere else: not in the list, not in the audit row.
        var listed = await app.ListScannerKeysAsync(eventId.ToString());
        Assert.Equal(200, listed.Status);
        Assert.DoesNotContain(key, listed.Body);
        Assert.Equal(id, listed.Json.GetProperty("keys")[0].GetProperty("id").GetGuid());
        var audit = await app.QueryAsync<string>("select after::text from admin_audit where entity_id = @entity and action = 'scanner_key.create'",
            new { entity = "scanner_key:" + id });
        Assert.DoesNotContain(key, Assert.Single(audit));
    }

    [Fact]
    public async Task A_revoked_key_is_refused_at_the_door_and_revoking_again_changes_nothing()
    {
        var eventId = await app.CreateEventAsync();
        var registrationId = await app.PaidRegistrationAsync(eventId);
        var (id, key) = await app.ScannerKeyAsync(eventId);

        var revoked = await app.RevokeScannerKeyAsync(id.ToString());
        Assert.Equal(200, revoked.Status);
        Assert.NotEqual(JsonValueKind.Null, revoked.Json.GetProperty("revokedAt").ValueKind);
        var again = await app.RevokeScannerKeyAsync(id.ToString());
        Assert.Equal(revoked.Body, again.Body);
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from admin_audit where action = 'scanner_key.revoke' and entity_id = @e", new { e = "scanner_key:" + id }));

        var scan = await app.ScanAsync(key, app.TokenFor(registrationId, eventId));
        Assert.Equal((403, "urn:eventregistration:problem:scanner-key-revoked"), (scan.Status, scan.ProblemType));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from checkins where registration_id = @registrationId", new { registrationId }));
    }

    [Fact]
    public async Task Bad_requests_are_refused_with_their_problem_and_change_nothing()
    {
        var eventId = await app.CreateEventAsync();
        var before = await app.ScalarAsync<long>("select count(*) from scanner_keys");

        Assert.Equal(404, (await app.CreateScannerKeyRawAsync(Guid.NewGuid().ToString(), """{"name":"x"}""")).Status);
        Assert.Equal("urn:eventregistration:problem:invalid-field", (await app.CreateScannerKeyRawAsync("nope", """{"name":"x"}""")).ProblemType);
        Assert.Equal("urn:eventregistration:problem:missing-field", (await app.CreateScannerKeyRawAsync(eventId.ToString(), "{}")).ProblemType);
        Assert.Equal("urn:eventregistration:problem:invalid-field", (await app.CreateScannerKeyRawAsync(eventId.ToString(), $$"""{"name":"{{new string('x', 101)}}"}""")).ProblemType);
        Assert.Equal(401, (await app.CreateScannerKeyRawAsync(eventId.ToString(), """{"name":"x"}""", adminKey: null)).Status);
        Assert.Equal(401, (await app.CreateScannerKeyRawAsync(eventId.ToString(), """{"name":"x"}""", adminKey: "wrong")).Status);
        Assert.Equal((404, "urn:eventregistration:problem:scanner-key-not-found"),
            await app.RevokeScannerKeyAsync(Guid.NewGuid().ToString()) is var r ? (r.Status, r.ProblemType) : default);

        var cancelled = await app.CreateEventAsync(status: "cancelled");
        Assert.Equal("urn:eventregistration:problem:event-cancelled", (await app.CreateScannerKeyRawAsync(cancelled.ToString(), """{"name":"x"}""")).ProblemType);
        Assert.Equal(before, await app.ScalarAsync<long>("select count(*) from scanner_keys"));
    }

    [Fact]
    public async Task An_operator_may_manage_keys_too()
    {
        var eventId = await app.CreateEventAsync();
        var created = await app.CreateScannerKeyRawAsync(eventId.ToString(), """{"name":"South door"}""", AdminKeys.Operator);
        Assert.Equal(201, created.Status);
    }
}
