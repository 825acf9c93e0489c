using EventRegistration.Functions.Infrastructure.Database;
using Npgsql;

namespace EventRegistration.Tests.Infrastructure;

/// <summary>
/// Databases on the PostgreSQL server that ./dev starts: migrated once per test run into a
/// template, then cloned for each test class, so classes never see each other's rows.
/// </summary>
public static class TestDatabase
{
    public static readonly string AdminConnectionString =
        Environment.GetEnvironmentVariable("EVREG_TEST_ADMIN_CONNECTION")
        ?? "Host=127.0.0.1;Port=54329;Database=postgres;Username=evreg;Password=evreg-local";

    private static readonly SemaphoreSlim TemplateLock = new(1, 1);
    private static string? _template;

    public static async Task<string> CreateAsync()
    {
        var template = await TemplateAsync();
        var name = "evreg_test_" + Guid.NewGuid().ToString("N")[..16];
        await using var admin = new NpgsqlConnection(AdminConnectionString);
        await admin.OpenAsync();
        await using (var create = new NpgsqlCommand($"create database {name} template {template}", admin))
        {
            await create.ExecuteNonQueryAsync();
        }

        return ConnectionStringFor(name, pooling: true);
    }

    public static async Task DropAsync(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database!;
        NpgsqlConnection.ClearAllPools();
        await using var admin = new NpgsqlConnection(AdminConnectionString);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"drop database if exists {name} with (force)", admin);
        await drop.ExecuteNonQueryAsync();
    }

    public static string ConnectionStringFor(string database, bool pooling) =>
        new NpgsqlConnectionStringBuilder(AdminConnectionString)
        {
            Database = database,
            Pooling = pooling,
            MaxPoolSize = 120,
            Timeout = 5,
            CommandTimeout = 30,
            // As deployed (infra/main.bicep): the suite runs the app with its statements prepared, and
            // without the session reset Npgsql otherwise sends when a connection goes back to its pool.
            MaxAutoPrepare = 50,
            NoResetOnClose = true,
        }.ConnectionString;

    /// <summary>One migrated template per run; a fresh name each run, so an older schema is never reused.</summary>
    private static async Task<string> TemplateAsync()
    {
        await TemplateLock.WaitAsync();
        try
        {
            if (_template is not null)
            {
                return _template;
            }

            var name = "evreg_template_" + Guid.NewGuid().ToString("N")[..12];
            await DropStaleAsync();
            await using (var admin = new NpgsqlConnection(AdminConnectionString))
            {
                await admin.OpenAsync();
                await using var create = new NpgsqlCommand($"create database {name}", admin);
                await create.ExecuteNonQueryAsync();
            }

            // No pooling: a template must have no open connections when it is cloned.
            Migrator.Apply(ConnectionStringFor(name, pooling: false));
            _template = name;
            return name;
        }
        finally
        {
            TemplateLock.Release();
        }
    }

    /// <summary>
    /// Drops databases of earlier runs that ended without cleaning up (older than an hour). Only a
    /// tidy-up, so it has its own connection and never fails the run: reading file dates needs
    /// superuser (not so on a server of the user's own), a database another run drops meanwhile
    /// makes pg_stat_file fail, and a slow drop under load can time out and leave its connection
    /// broken — which, shared with the template's creation, failed whole test classes with
    /// "Connection is not open".
    /// </summary>
    private static async Task DropStaleAsync()
    {
        try
        {
            await using var admin = new NpgsqlConnection(AdminConnectionString);
            await admin.OpenAsync();
            await DropStaleAsync(admin);
        }
        catch (NpgsqlException)
        {
        }
    }

    private static async Task DropStaleAsync(NpgsqlConnection admin)
    {
        var stale = new List<string>();
        await using (var find = new NpgsqlCommand("""
            select d.datname from pg_database d
             where (d.datname like 'evreg_test_%' or d.datname like 'evreg_template_%')
               and (pg_stat_file('base/' || d.oid || '/PG_VERSION')).modification < now() - interval '1 hour'
            """, admin))
        await using (var reader = await find.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                stale.Add(reader.GetString(0));
            }
        }

        foreach (var name in stale)
        {
            await using var drop = new NpgsqlCommand($"drop database if exists {name} with (force)", admin);
            await drop.ExecuteNonQueryAsync();
        }
    }
}
