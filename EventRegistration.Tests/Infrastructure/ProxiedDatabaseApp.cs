using Npgsql;

namespace EventRegistration.Tests.Infrastructure;

/// <summary>A test app that reaches PostgreSQL through a TCP proxy the test can take down.</summary>
public sealed class ProxiedDatabaseApp : TestApp
{
    public TcpProxy Proxy { get; } = new(new NpgsqlConnectionStringBuilder(TestDatabase.AdminConnectionString).Port);

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Postgres:ConnectionString"] = new NpgsqlConnectionStringBuilder(ConnectionString)
        {
            Port = Proxy.Port,
            Timeout = 2,
            CommandTimeout = 15,
        }.ConnectionString;
        settings["Postgres:LockTimeoutMilliseconds"] = "10000";
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Proxy.DisposeAsync();
    }
}
