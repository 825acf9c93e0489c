using Azure.Core;
using Dapper;
using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.Database;
using Microsoft.Extensions.Azure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace EventRegistration.Functions;

/// <summary>
/// Commands the same binary runs outside the Functions host, for ./dev and deploy pipelines:
/// <c>dotnet EventRegistration.Functions.dll migrate</c> and <c>… seed-demo</c>. The connection
/// string comes from the environment (<c>Postgres__ConnectionString</c>) or local.settings.json;
/// <c>Postgres__EntraAuthentication=true</c> signs in with a token as the app does. After the
/// migrations, <c>migrate</c> makes the app's login a member of evreg_app (<see cref="AppLogin"/>).
/// </summary>
public static class CommandLine
{
    public static readonly Guid DemoEventId = Guid.Parse("6f1c2a1e-0000-4000-8000-000000000001");
    public static readonly Guid DemoMemberId = Guid.Parse("6f1c2a1e-0000-4000-8000-0000000000a1");

    public static bool Handles(string[] args) => args is ["migrate" or "seed-demo", ..];

    public static Task<int> RunAsync(string[] args) =>
        RunAsync(args, new ConfigurationBuilder()
            .AddJsonFile("local.settings.json", optional: true)
            .AddEnvironmentVariables()
            .Build());

    /// <summary>
    /// <paramref name="credential"/> replaces the token source the settings choose (the client
    /// factory's, as in the app): the tests' fake; null everywhere else.
    /// </summary>
    public static async Task<int> RunAsync(string[] args, IConfiguration configuration, TokenCredential? credential = null)
    {
        string? Setting(string key) => configuration[$"Postgres:{key}"] ?? configuration[$"Values:Postgres__{key}"];

        var options = new PostgresOptions
        {
            ConnectionString = Setting(nameof(PostgresOptions.ConnectionString)) ?? "",
            EntraAuthentication = bool.TryParse(Setting(nameof(PostgresOptions.EntraAuthentication)), out var entra) && entra,
        };
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            await Console.Error.WriteLineAsync("Postgres__ConnectionString is not set (environment or local.settings.json).");
            return 2;
        }

        if (!PostgresSignIn.PasswordFitsSignIn(options))
        {
            await Console.Error.WriteLineAsync("Postgres__ConnectionString must hold no password when Postgres__EntraAuthentication is true (the token is the password).");
            return 2;
        }

        AppLogin? appLogin;
        try
        {
            appLogin = args[0] == "migrate" ? AppLogin.FromConfiguration(configuration) : null;
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync(e.Message);
            return 2;
        }

        // The same sign-in as the app's (PostgresSignIn): a password locally, or a token of the
        // identity Postgres__credential / Postgres__clientId name (the deploy hook's migration identity).
        var tokens = new Lazy<TokenCredential>(() => credential ?? ClientFactoryCredential(configuration));
        await using var dataSource = PostgresSignIn.DataSource(options, () => tokens.Value);

        switch (args[0])
        {
            case "migrate":
                var applied = Migrator.Apply(dataSource);
                Console.WriteLine(applied.Count == 0 ? "Database is up to date." : $"Applied: {string.Join(", ", applied)}");
                if (appLogin is not null)
                {
                    var principals = new NpgsqlConnectionStringBuilder(options.ConnectionString) { Database = AppLogin.PrincipalsDatabase }.ConnectionString;
                    try
                    {
                        Console.WriteLine(await appLogin.EnsureAsync(dataSource,
                            () => PostgresSignIn.DataSource(new PostgresOptions { ConnectionString = principals, EntraAuthentication = options.EntraAuthentication }, () => tokens.Value)));
                    }
                    catch (InvalidOperationException e)
                    {
                        await Console.Error.WriteLineAsync(e.Message);
                        return 1;
                    }
                }

                return 0;
            default:
                await SeedDemoAsync(dataSource);
                Console.WriteLine($"Demo event {DemoEventId} and member {DemoMemberId} are in place.");
                return 0;
        }
    }

    private static TokenCredential ClientFactoryCredential(IConfiguration configuration)
    {
        var services = new ServiceCollection().AddLogging();
        services.AddAzureClientsCore();
        return services.BuildServiceProvider().GetRequiredService<AzureComponentFactory>().CreateTokenCredential(configuration.GetSection(PostgresOptions.Section));
    }

    private static async Task SeedDemoAsync(NpgsqlDataSource dataSource)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("""
            insert into events (id, title, starts_at, venue, capacity, price_paise, currency, status)
            values (@DemoEventId, 'Annual members'' meet', now() + interval '30 days', 'Community hall', 100, 50000, 'INR', 'open')
            on conflict (id) do nothing;
            insert into members (id, name, phone_e164, email)
            values (@DemoMemberId, 'Asha Demo', '+919800000001', 'asha@example.org')
            on conflict (id) do nothing;
            """, new { DemoEventId, DemoMemberId });
    }
}
