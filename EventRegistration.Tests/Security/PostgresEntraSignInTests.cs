using Azure.Core;
using EventRegistration.Functions;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace EventRegistration.Tests.Security;

/// <summary>
/// Entra sign-in exercised against the local server: a login whose password is whatever the
/// fake token source hands out stands in for the Function App's identity, so a connection only
/// opens if the app's data source really signs in with the current token.
/// </summary>
public sealed class PostgresEntraSignInTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task The_app_signs_in_with_the_token_sources_token_and_takes_a_fresh_one_periodically()
    {
        var login = "evreg_entra_t" + Guid.NewGuid().ToString("N")[..12];
        var tokens = new FakeTokenSource("token-1");
        await AdminAsync($"create role {login} login password 'token-1' in role evreg_app");
        try
        {
            var settings = app.Settings();
            settings["Postgres:ConnectionString"] = new NpgsqlConnectionStringBuilder(app.ConnectionString) { Username = login, Password = null }.ConnectionString;
            settings["Postgres:EntraAuthentication"] = "true";
            settings["Postgres:TokenRefreshSeconds"] = "1";
            await using var services = new ServiceCollection()
                .AddLogging()
                .AddEventRegistration(new ConfigurationBuilder().AddInMemoryCollection(settings).Build())
                .AddKeyedSingleton<TokenCredential>(PostgresSignIn.CredentialKey, tokens)
                .BuildServiceProvider();
            var dataSource = services.GetRequiredService<Database>().DataSource;

            Assert.Equal(login, await CurrentUserAsync(dataSource));
            Assert.All(tokens.Scopes, scope => Assert.Equal(PostgresSignIn.Scope, scope));

            // The token rotates: the server now accepts only the new one, and a new connection gets it.
            tokens.Current = "token-2";
            await AdminAsync($"alter role {login} password 'token-2'");
            var asked = tokens.Calls;
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (tokens.Calls < asked + 2 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }

            Assert.True(tokens.Calls >= asked + 2, $"the token was fetched {tokens.Calls} times");
            dataSource.Clear();
            Assert.Equal(login, await CurrentUserAsync(dataSource));
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await AdminAsync($"drop role if exists {login}");
        }
    }

    [Fact]
    public async Task A_password_beside_entra_sign_in_fails_start_up_naming_the_setting()
    {
        var failure = await app.StartUpFailureWithAsync("Postgres:EntraAuthentication", "true");
        Assert.Contains("Postgres__ConnectionString must hold no password", failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Password_sign_in_is_unchanged_and_never_asks_for_a_token()
    {
        var tokens = new FakeTokenSource("unused");
        await using var services = new ServiceCollection()
            .AddLogging()
            .AddEventRegistration(new ConfigurationBuilder().AddInMemoryCollection(app.Settings()).Build())
            .AddKeyedSingleton<TokenCredential>(PostgresSignIn.CredentialKey, tokens)
            .BuildServiceProvider();

        Assert.Equal(new NpgsqlConnectionStringBuilder(app.ConnectionString).Username, await CurrentUserAsync(services.GetRequiredService<Database>().DataSource));
        Assert.Equal(0, tokens.Calls);
    }

    [Fact]
    public async Task The_deployments_credential_settings_choose_the_user_assigned_managed_identity()
    {
        // What infra/app/api.bicep sets beside the connection string: the client factory builds a
        // ManagedIdentityCredential for that client id, not a DefaultAzureCredential chain.
        var settings = app.Settings();
        settings["Postgres:credential"] = "managedidentity";
        settings["Postgres:clientId"] = "4b1f3c0e-8d62-4f6a-9d0e-2a7c5b9e1f30";
        await using var services = new ServiceCollection()
            .AddLogging()
            .AddEventRegistration(new ConfigurationBuilder().AddInMemoryCollection(settings).Build())
            .BuildServiceProvider();

        Assert.IsType<Azure.Identity.ManagedIdentityCredential>(services.GetRequiredKeyedService<TokenCredential>(PostgresSignIn.CredentialKey));
    }

    private static async Task<string> CurrentUserAsync(NpgsqlDataSource dataSource)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand("select current_user", connection);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    private static async Task AdminAsync(string sql)
    {
        await using var admin = new NpgsqlConnection(TestDatabase.AdminConnectionString);
        await admin.OpenAsync();
        await using var command = new NpgsqlCommand(sql, admin);
        await command.ExecuteNonQueryAsync();
    }
}
