using Dapper;
using EventRegistration.Functions;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace EventRegistration.Tests.Security;

/// <summary>
/// The migrate command's last step, run as the deploy hook runs it: the app's login becomes a
/// member of evreg_app and nothing else, every deploy, idempotently. Locally there is no Azure
/// pgaadauth extension, so a password login stands in for the Entra principal
/// (<c>Migrate__AppLoginExists=true</c>); AppRoleTests then works signed in as such a login.
/// </summary>
public sealed class AppLoginTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Migrate_makes_an_existing_login_a_member_of_evreg_app_and_a_second_run_changes_nothing()
    {
        await using var login = await LoginAsync("");

        Assert.Equal(0, await MigrateAsync(app.ConnectionString, login.Name, exists: true));
        Assert.Equal(0, await MigrateAsync(app.ConnectionString, login.Name, exists: true));

        Assert.True(await AdminScalarAsync<bool>("select pg_has_role(@name, 'evreg_app', 'MEMBER')", login.Name));
        Assert.Equal(1L, await AdminScalarAsync<long>(
            "select count(*) from pg_auth_members m join pg_roles r on r.oid = m.member where r.rolname = @name", login.Name));
    }

    [Theory]
    [InlineData("createdb", "it has CREATEDB")]
    [InlineData("createrole", "it has CREATEROLE")]
    [InlineData("in role evreg", "it is also a member of evreg")]
    public async Task Migrate_fails_the_deploy_when_the_app_login_could_do_more_than_evreg_app(string extra, string problem)
    {
        await using var login = await LoginAsync(extra);

        Assert.Equal(1, await MigrateAsync(app.ConnectionString, login.Name, exists: true));
        Assert.False(await AdminScalarAsync<bool>("select pg_has_role(@name, 'evreg_app', 'MEMBER')", login.Name));

        await using var connection = new NpgsqlConnection(app.ConnectionString);
        await connection.OpenAsync();
        Assert.Contains(problem, await new AppLogin(login.Name, null).ProblemsAsync(connection));
    }

    [Fact]
    public async Task Migrate_signs_in_with_the_migration_identitys_token_and_grants_as_that_identity()
    {
        // The migration identity's stand-in: like an Entra administrator of the server, a member
        // of the role that owns the schema, allowed to create roles, and no superuser.
        await using var migrator = await LoginAsync("createrole in role evreg", password: "token-m");
        await using var login = await LoginAsync("");
        var tokens = new FakeTokenSource("token-m");
        var signIn = new NpgsqlConnectionStringBuilder(app.ConnectionString) { Username = migrator.Name, Password = null, Pooling = false }.ConnectionString;

        Assert.Equal(0, await MigrateAsync(signIn, login.Name, exists: true, entra: true, tokens));

        Assert.True(tokens.Calls >= 1);
        Assert.All(tokens.Scopes, scope => Assert.Equal(PostgresSignIn.Scope, scope));
        Assert.Equal(migrator.Name, await AdminScalarAsync<string>(
            "select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.grantor join pg_roles r on r.oid = m.member where r.rolname = @name", login.Name));
    }

    [Fact]
    public async Task A_password_beside_entra_sign_in_stops_the_command_before_it_connects()
    {
        var tokens = new FakeTokenSource("unused");
        Assert.Equal(2, await MigrateAsync(app.ConnectionString, "id-api-abc", exists: true, entra: true, tokens));
        Assert.Equal(0, tokens.Calls);
    }

    [Theory]
    [InlineData("id-api-abc", null)]
    [InlineData("id-api-abc", "not-a-guid")]
    [InlineData("x\"; drop table events; --", "8c6f7d3e-1e0b-4a57-9a55-7f7f1c2a0b01")]
    public async Task Broken_app_login_settings_stop_the_command(string name, string? objectId)
    {
        Assert.Equal(2, await CommandLine.RunAsync(["migrate"], Configuration(app.ConnectionString, new()
        {
            ["Migrate:AppLoginName"] = name,
            ["Migrate:AppLoginObjectId"] = objectId,
        })));
    }

    [Fact]
    public async Task Without_azures_pgaadauth_the_entra_principal_step_fails_naming_the_way_out()
    {
        var name = "evreg_nologin_t" + Guid.NewGuid().ToString("N")[..12];
        Assert.Equal(1, await CommandLine.RunAsync(["migrate"], Configuration(app.ConnectionString, new()
        {
            ["Migrate:AppLoginName"] = name,
            ["Migrate:AppLoginObjectId"] = Guid.NewGuid().ToString(),
        })));

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await using var dataSource = NpgsqlDataSource.Create(app.ConnectionString);
            await new AppLogin(name, Guid.NewGuid()).EnsureAsync(dataSource,
                () => NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(app.ConnectionString) { Database = AppLogin.PrincipalsDatabase }.ConnectionString));
        });
        Assert.Contains(AppLogin.ExistsSetting, failure.Message, StringComparison.Ordinal);
        Assert.False(await AdminScalarAsync<bool>("select exists (select 1 from pg_roles where rolname = @name)", name));
    }

    private static Task<int> MigrateAsync(string connectionString, string login, bool exists, bool entra = false, FakeTokenSource? tokens = null) =>
        CommandLine.RunAsync(["migrate"], Configuration(connectionString, new()
        {
            ["Postgres:EntraAuthentication"] = entra ? "true" : "false",
            ["Migrate:AppLoginName"] = login,
            ["Migrate:AppLoginExists"] = exists ? "true" : "false",
        }), tokens);

    private static IConfiguration Configuration(string connectionString, Dictionary<string, string?> settings)
    {
        settings["Postgres:ConnectionString"] = connectionString;
        return new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
    }

    private async Task<T> AdminScalarAsync<T>(string sql, string name)
    {
        await using var connection = new NpgsqlConnection(app.ConnectionString);
        return (await connection.ExecuteScalarAsync<T>(sql, new { name }))!;
    }

    private static async Task<Login> LoginAsync(string extra, string password = "app-login-test")
    {
        var name = "evreg_login_t" + Guid.NewGuid().ToString("N")[..12];
        await using var admin = new NpgsqlConnection(TestDatabase.AdminConnectionString);
        await admin.ExecuteAsync($"create role {name} login password '{password}' {extra}");
        return new Login(name);
    }

    private sealed record Login(string Name) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            NpgsqlConnection.ClearAllPools();
            await using var admin = new NpgsqlConnection(TestDatabase.AdminConnectionString);
            // The grants live in the test's database and the role across the server: drop both.
            await admin.ExecuteAsync($"drop role if exists {Name}");
        }
    }
}
