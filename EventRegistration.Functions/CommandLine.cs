using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace EventRegistration.Functions;

/// <summary>
/// Commands the same binary runs outside the Functions host, for ./dev and deploy pipelines:
/// <c>dotnet EventRegistration.Functions.dll migrate</c> and <c>… seed-demo</c>. The connection
/// string comes from the environment (<c>Postgres__ConnectionString</c>) or local.settings.json.
/// </summary>
public static class CommandLine
{
    public static readonly Guid DemoEventId = Guid.Parse("6f1c2a1e-0000-4000-8000-000000000001");
    public static readonly Guid DemoMemberId = Guid.Parse("6f1c2a1e-0000-4000-8000-0000000000a1");

    public static bool Handles(string[] args) => args is ["migrate" or "seed-demo", ..];

    public static async Task<int> RunAsync(string[] args)
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonFile("local.settings.json", optional: true)
            .AddEnvironmentVariables()
            .Build();
        var connectionString = configuration["Postgres:ConnectionString"] ?? configuration["Values:Postgres__ConnectionString"];
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            await Console.Error.WriteLineAsync("Postgres__ConnectionString is not set (environment or local.settings.json).");
            return 2;
        }

        switch (args[0])
        {
            case "migrate":
                var applied = Migrator.Apply(connectionString);
                Console.WriteLine(applied.Count == 0 ? "Database is up to date." : $"Applied: {string.Join(", ", applied)}");
                return 0;
            default:
                await SeedDemoAsync(connectionString);
                Console.WriteLine($"Demo event {DemoEventId} and member {DemoMemberId} are in place.");
                return 0;
        }
    }

    private static async Task SeedDemoAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
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
