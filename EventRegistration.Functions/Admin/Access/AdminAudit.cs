using System.Text.Json;
using Dapper;
using EventRegistration.Functions.Infrastructure.Http;
using Npgsql;

namespace EventRegistration.Functions.Admin.Access;

/// <summary>
/// The audit trail of admin actions. Written only inside the transaction that makes the change,
/// so a change without its row (or a row without its change) cannot be committed.
/// </summary>
public static class AdminAudit
{
    private const string Insert = """
        insert into admin_audit (actor, role, action, entity_id, before, after, at)
        values (@Actor, @Role, @Action, @EntityId, @Before::jsonb, @After::jsonb, @At)
        """;

    public static Task RecordAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, AdminActor actor, string action, string entityId,
        object? before, object? after, DateTimeOffset now) =>
        connection.ExecuteAsync(Insert, new
        {
            Actor = actor.Name,
            Role = AdminRoles.Name(actor.Role),
            Action = action,
            EntityId = entityId,
            Before = before is null ? null : JsonSerializer.Serialize(before, ApiResult.Json),
            After = after is null ? null : JsonSerializer.Serialize(after, ApiResult.Json),
            At = now.UtcDateTime,
        }, transaction);
}
