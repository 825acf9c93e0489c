using Dapper;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Checkins;
using EventRegistration.Functions.Infrastructure.Database;

namespace EventRegistration.Functions.Admin.ScannerKeys;

/// <summary>A scanner key as the admin API shows it: never the key, never its hash.</summary>
public sealed record ScannerKeyView(Guid Id, Guid EventId, string Name, DateTime CreatedAt, string CreatedBy, DateTime? RevokedAt, string? RevokedBy);

/// <summary>The answer to a creation: the only time the key itself is ever shown, with the scanner page's setup link (the key in its fragment, which browsers never send).</summary>
public sealed record CreatedScannerKey(Guid Id, Guid EventId, string Name, DateTime CreatedAt, string Key, string Header)
{
    public string ScannerLink => $"/api/checkins/scanner/#event={EventId}&key={Uri.EscapeDataString(Key)}&scanner={Uri.EscapeDataString(Name)}";
}

public abstract record ScannerKeyOutcome
{
    private ScannerKeyOutcome()
    {
    }

    public sealed record Created(CreatedScannerKey Key) : ScannerKeyOutcome;
    public sealed record Revoked(ScannerKeyView Key) : ScannerKeyOutcome;
    public sealed record Listed(IReadOnlyList<ScannerKeyView> Keys) : ScannerKeyOutcome;
    public sealed record EventNotFound : ScannerKeyOutcome;
    public sealed record EventCancelled : ScannerKeyOutcome;
    public sealed record KeyNotFound : ScannerKeyOutcome;
}

/// <summary>Organisers create, list and revoke an event's scanner keys; each change audited in its own transaction.</summary>
public sealed class ScannerKeysHandler(Database database, TimeProvider clock)
{
    private const string Columns =
        "id, event_id as EventId, name, created_at as CreatedAt, created_by as CreatedBy, revoked_at as RevokedAt, revoked_by as RevokedBy";

    private const string LockEvent = "select status from events where id = @EventId for share";

    private const string Insert = $"""
        insert into scanner_keys (id, event_id, name, key_hash, created_at, created_by)
        values (@Id, @EventId, @Name, @KeyHash, @Now, @Actor)
        returning {Columns}
        """;

    private const string Lock = $"select {Columns} from scanner_keys where id = @Id for update";

    private const string Revoke = $"""
        update scanner_keys set revoked_at = @Now, revoked_by = @Actor where id = @Id
        returning {Columns}
        """;

    private const string List = $"""
        select {Columns} from scanner_keys where event_id = @EventId order by created_at, id
        """;

    public Task<ScannerKeyOutcome> CreateAsync(AdminActor actor, Guid eventId, string name, CancellationToken cancellationToken) =>
        database.InTransactionAsync<ScannerKeyOutcome>("admin_scanner_key_create", async (connection, transaction) =>
        {
            var status = await connection.QuerySingleOrDefaultAsync<string>(LockEvent, new { EventId = eventId }, transaction);
            if (status is null)
            {
                return new ScannerKeyOutcome.EventNotFound();
            }

            if (status == "cancelled")
            {
                return new ScannerKeyOutcome.EventCancelled();
            }

            var now = clock.GetUtcNow();
            var key = Checkins.ScannerKeys.Create();
            var row = await connection.QuerySingleAsync<ScannerKeyView>(Insert, new
            {
                Id = Guid.NewGuid(), EventId = eventId, Name = name, KeyHash = Checkins.ScannerKeys.Hash(key), Now = now.UtcDateTime, Actor = actor.Name,
            }, transaction);
            await AdminAudit.RecordAsync(connection, transaction, actor, "scanner_key.create", "scanner_key:" + row.Id, null, row, now);
            return new ScannerKeyOutcome.Created(new CreatedScannerKey(row.Id, row.EventId, row.Name, row.CreatedAt, key, Checkins.ScannerKeys.Header));
        }, cancellationToken);

    /// <summary>Revoking twice is harmless: the key stays revoked as it was, and no second audit row is written.</summary>
    public Task<ScannerKeyOutcome> RevokeAsync(AdminActor actor, Guid keyId, CancellationToken cancellationToken) =>
        database.InTransactionAsync<ScannerKeyOutcome>("admin_scanner_key_revoke", async (connection, transaction) =>
        {
            var before = await connection.QuerySingleOrDefaultAsync<ScannerKeyView>(Lock, new { Id = keyId }, transaction);
            if (before is null)
            {
                return new ScannerKeyOutcome.KeyNotFound();
            }

            if (before.RevokedAt is not null)
            {
                return new ScannerKeyOutcome.Revoked(before);
            }

            var now = clock.GetUtcNow();
            var after = await connection.QuerySingleAsync<ScannerKeyView>(Revoke, new { Id = keyId, Now = now.UtcDateTime, Actor = actor.Name }, transaction);
            await AdminAudit.RecordAsync(connection, transaction, actor, "scanner_key.revoke", "scanner_key:" + keyId, before, after, now);
            return new ScannerKeyOutcome.Revoked(after);
        }, cancellationToken);

    public Task<ScannerKeyOutcome> ListAsync(Guid eventId, CancellationToken cancellationToken) =>
        database.RunAsync<ScannerKeyOutcome>("admin_scanner_key_list", async connection =>
        {
            if (await connection.QuerySingleOrDefaultAsync<string>("select status from events where id = @EventId", new { EventId = eventId }) is null)
            {
                return new ScannerKeyOutcome.EventNotFound();
            }

            return new ScannerKeyOutcome.Listed((await connection.QueryAsync<ScannerKeyView>(List, new { EventId = eventId })).ToList());
        }, cancellationToken);
}
