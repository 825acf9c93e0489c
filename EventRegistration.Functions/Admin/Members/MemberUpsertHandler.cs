using Dapper;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Database;

namespace EventRegistration.Functions.Admin.Members;

public sealed record MemberInput(string Name, string PhoneE164, string? Email);

public sealed record AdminMember(Guid Id, string Name, string PhoneE164, string? Email);

/// <summary>What an upsert came to: a new member (201) or a changed one (200).</summary>
public sealed record MemberUpserted(AdminMember Member, bool Created);

/// <summary>Creates or replaces a member by the id the organisation gives it, audited in the same transaction.</summary>
public sealed class MemberUpsertHandler(Database database, TimeProvider clock)
{
    private const string Lock = "select id, name, phone_e164 as PhoneE164, email from members where id = @Id for update";
    private const string Insert = "insert into members (id, name, phone_e164, email) values (@Id, @Name, @PhoneE164, @Email)";
    private const string Update = "update members set name = @Name, phone_e164 = @PhoneE164, email = @Email where id = @Id";

    public Task<MemberUpserted> UpsertAsync(AdminActor actor, Guid id, MemberInput input, CancellationToken cancellationToken) =>
        database.InTransactionAsync("admin_upsert_member", async (connection, transaction) =>
        {
            var now = clock.GetUtcNow();
            var before = await connection.QuerySingleOrDefaultAsync<AdminMember>(Lock, new { Id = id }, transaction);
            var parameters = new { Id = id, input.Name, input.PhoneE164, input.Email };
            // Two first upserts of one id at once: the loser's insert hits the primary key, and the
            // rerun of this transaction finds the winner's row and updates it.
            await connection.ExecuteAsync(before is null ? Insert : Update, parameters, transaction);
            var after = new AdminMember(id, input.Name, input.PhoneE164, input.Email);
            await AdminAudit.RecordAsync(connection, transaction, actor, before is null ? "member.create" : "member.update",
                id.ToString(), before, after, now);
            return new MemberUpserted(after, before is null);
        }, cancellationToken);
}
