using System.Text.RegularExpressions;
using Dapper;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace EventRegistration.Functions.Infrastructure.Database;

/// <summary>
/// The login the app signs in as, made a member of <c>evreg_app</c> (migration 0009) and nothing
/// else by the <c>migrate</c> command, right after the migrations, on every deploy. In Azure it is
/// the Function App's user-assigned identity: a Microsoft Entra principal named like the identity,
/// created with Azure's <c>pgaadauth_create_principal_with_oid</c>, which exists only on Azure
/// Database for PostgreSQL and only in its <c>postgres</c> database. Where the login already exists
/// (a password login locally or in the tests, or one an operator made) <c>Migrate__AppLoginExists=true</c>
/// skips that call; the grant and the check below run the same either way.
/// <para>Command settings, not app settings (the Function App never reads them):
/// <c>Migrate__AppLoginName</c>, <c>Migrate__AppLoginObjectId</c> (the identity's principal id),
/// <c>Migrate__AppLoginExists</c>. Without a name the command only migrates.</para>
/// </summary>
public sealed partial record AppLogin(string Name, Guid? ObjectId)
{
    /// <summary>Where Azure keeps the Entra principal functions.</summary>
    public const string PrincipalsDatabase = "postgres";

    public const string NameSetting = "Migrate__AppLoginName";
    public const string ObjectIdSetting = "Migrate__AppLoginObjectId";
    public const string ExistsSetting = "Migrate__AppLoginExists";

    /// <summary>Null without <see cref="NameSetting"/>; throws <see cref="ArgumentException"/> naming the broken setting.</summary>
    public static AppLogin? FromConfiguration(IConfiguration configuration)
    {
        var name = configuration["Migrate:AppLoginName"];
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }

        // Azure names a managed identity with letters, digits, '-' and '_' (3–128 characters); the
        // name is quoted into GRANT, so nothing else is accepted.
        if (!IdentityName().IsMatch(name))
        {
            throw new ArgumentException($"{NameSetting} must be a managed identity's name: letters, digits, '-' and '_', at most 128 characters.");
        }

        var exists = configuration["Migrate:AppLoginExists"];
        if (exists is not null && !bool.TryParse(exists, out _))
        {
            throw new ArgumentException($"{ExistsSetting} must be true or false.");
        }

        if (bool.TryParse(exists, out var preCreated) && preCreated)
        {
            return new AppLogin(name, null);
        }

        return Guid.TryParse(configuration["Migrate:AppLoginObjectId"], out var objectId)
            ? new AppLogin(name, objectId)
            : throw new ArgumentException($"{ObjectIdSetting} must be the identity's principal (object) id, a GUID, unless {ExistsSetting} is true.");
    }

    /// <summary>
    /// Creates the Entra principal if it is missing (in <paramref name="principals"/>, the
    /// <c>postgres</c> database), refuses a login that could do more than <c>evreg_app</c> allows,
    /// and grants it <c>evreg_app</c> in <paramref name="app"/>. Idempotent: a second run changes nothing.
    /// </summary>
    public async Task<string> EnsureAsync(NpgsqlDataSource app, Func<NpgsqlDataSource> principals, CancellationToken cancellationToken = default)
    {
        string created;
        if (ObjectId is { } objectId)
        {
            await using var principalsSource = principals();
            await using var connection = await principalsSource.OpenConnectionAsync(cancellationToken);
            if (await ExistsAsync(connection))
            {
                created = "exists";
            }
            else
            {
                try
                {
                    await connection.ExecuteAsync(
                        "select * from pgaadauth_create_principal_with_oid(@Name, @ObjectId, 'service', false, false)",
                        new { Name, ObjectId = objectId.ToString() });
                    created = "created";
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateObject)
                {
                    created = "exists";
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedFunction)
                {
                    throw new InvalidOperationException(
                        $"pgaadauth_create_principal_with_oid is missing: it exists only on Azure Database for PostgreSQL with Microsoft Entra authentication on. For a login made otherwise set {ExistsSetting}=true.", e);
                }
            }
        }
        else
        {
            await using var connection = await app.OpenConnectionAsync(cancellationToken);
            if (!await ExistsAsync(connection))
            {
                throw new InvalidOperationException($"The app login \"{Name}\" does not exist ({ExistsSetting} is true).");
            }

            created = "exists";
        }

        await using (var connection = await app.OpenConnectionAsync(cancellationToken))
        {
            // Checked before the grant, so a login that could do more never gets evreg_app either.
            var problems = (await ProblemsAsync(connection)).Where(p => p != NotAMember).ToList();
            if (problems.Count > 0)
            {
                throw new InvalidOperationException($"The app login \"{Name}\" may do more than evreg_app allows: {string.Join("; ", problems)}.");
            }

            // Granting a membership the login already has only raises a notice.
            await connection.ExecuteAsync($"grant evreg_app to {Quoted(Name)}");
            if ((await ProblemsAsync(connection)).Count > 0)
            {
                throw new InvalidOperationException($"The app login \"{Name}\" is not a member of evreg_app after the grant.");
            }
        }

        return $"App login \"{Name}\" ({created}) is a member of evreg_app only.";
    }

    /// <summary>What the app's login holds beyond evreg_app: the least privilege the design promises, checked on every deploy.</summary>
    public async Task<IReadOnlyList<string>> ProblemsAsync(NpgsqlConnection connection)
    {
        var login = await connection.QuerySingleAsync<LoginRow>(Check, new { Name });
        var problems = new List<string>();
        if (!login.CanLogin)
        {
            problems.Add("it cannot log in");
        }

        if (!login.Member)
        {
            problems.Add(NotAMember);
        }

        if (login.Attributes.Length > 0)
        {
            problems.Add($"it has {string.Join(", ", login.Attributes)}");
        }

        if (login.OtherRoles.Length > 0)
        {
            problems.Add($"it is also a member of {string.Join(", ", login.OtherRoles)}");
        }

        if (login.Owned > 0)
        {
            problems.Add($"it owns {login.Owned} relation(s)");
        }

        if (login.DatabaseOwner)
        {
            problems.Add("it owns the database");
        }

        return problems;
    }

    private const string NotAMember = "it is not a member of evreg_app";

    private async Task<bool> ExistsAsync(NpgsqlConnection connection) =>
        await connection.ExecuteScalarAsync<bool>("select exists (select 1 from pg_roles where rolname = @Name)", new { Name });

    private static string Quoted(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private const string Check = """
        select r.rolcanlogin as "CanLogin",
               pg_has_role(r.oid, 'evreg_app', 'MEMBER') as "Member",
               array_remove(array[
                   case when r.rolsuper then 'SUPERUSER' end,
                   case when r.rolcreaterole then 'CREATEROLE' end,
                   case when r.rolcreatedb then 'CREATEDB' end,
                   case when r.rolreplication then 'REPLICATION' end,
                   case when r.rolbypassrls then 'BYPASSRLS' end], null) as "Attributes",
               array(select g.rolname::text from pg_auth_members m join pg_roles g on g.oid = m.roleid
                     where m.member = r.oid and g.rolname <> 'evreg_app' order by 1) as "OtherRoles",
               (select count(*) from pg_class c where c.relowner = r.oid) as "Owned",
               exists (select 1 from pg_database d where d.datname = current_database() and d.datdba = r.oid) as "DatabaseOwner"
        from pg_roles r
        where r.rolname = @Name
        """;

    private sealed class LoginRow
    {
        public bool CanLogin { get; init; }
        public bool Member { get; init; }
        public string[] Attributes { get; init; } = [];
        public string[] OtherRoles { get; init; } = [];
        public long Owned { get; init; }
        public bool DatabaseOwner { get; init; }
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]{2,127}$")]
    private static partial Regex IdentityName();
}
