using EventRegistration.Functions.Health;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace EventRegistration.Tests.Health;

public sealed class HealthTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Health_reports_each_dependency_the_migrations_and_reconciliation_without_revealing_settings()
    {
        await app.ExecuteAsync("delete from reconciliation_runs");
        var before = await HealthAsync(app.Services);
        Assert.Equal(200, before.Status);
        Assert.Equal("degraded", before.Json.GetProperty("status").GetString());
        Assert.Equal("never_run", before.Json.GetProperty("reconciliation").GetProperty("status").GetString());

        await app.ReconcileAsync();
        var answer = await HealthAsync(app.Services);

        Assert.Equal(200, answer.Status);
        Assert.Equal("no-store", answer.Headers["Cache-Control"]);
        Assert.Equal("healthy", answer.Json.GetProperty("status").GetString());
        Assert.Equal("ok", answer.Json.GetProperty("database").GetString());
        Assert.Equal("ok", answer.Json.GetProperty("storage").GetString());
        Assert.Equal("ok", answer.Json.GetProperty("migrations").GetProperty("status").GetString());
        Assert.Equal(0, answer.Json.GetProperty("migrations").GetProperty("pending").GetInt32());
        Assert.Equal("ok", answer.Json.GetProperty("reconciliation").GetProperty("status").GetString());
        Assert.Equal("completed", answer.Json.GetProperty("reconciliation").GetProperty("lastRunStatus").GetString());
        foreach (var value in app.Settings().Values.Where(v => v is { Length: > 3 }))
        {
            Assert.DoesNotContain(value!, answer.Body, StringComparison.OrdinalIgnoreCase);
        }

        Assert.DoesNotContain("127.0.0.1", answer.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("devstoreaccount1", answer.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_completed_run_for_three_periods_is_stale_but_still_up()
    {
        await app.ReconcileAsync();
        app.Clock.Advance(TimeSpan.FromMinutes(16));
        var answer = await HealthAsync(app.Services);

        Assert.Equal(200, answer.Status);
        Assert.Equal("degraded", answer.Json.GetProperty("status").GetString());
        Assert.Equal("stale", answer.Json.GetProperty("reconciliation").GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_migration_this_build_carries_but_the_database_lacks_is_unhealthy()
    {
        var last = await app.ScalarAsync<string>("select scriptname from schemaversions order by scriptname desc limit 1");
        await app.ExecuteAsync("delete from schemaversions where scriptname = @last", new { last });
        try
        {
            var answer = await HealthAsync(app.Services);
            Assert.Equal(503, answer.Status);
            Assert.Equal("unhealthy", answer.Json.GetProperty("status").GetString());
            Assert.Equal("pending", answer.Json.GetProperty("migrations").GetProperty("status").GetString());
            Assert.Equal(1, answer.Json.GetProperty("migrations").GetProperty("pending").GetInt32());
        }
        finally
        {
            await app.ExecuteAsync("insert into schemaversions (scriptname, applied) values (@last, now())", new { last });
        }
    }

    [Fact]
    public async Task An_unreachable_database_or_storage_answers_503_naming_which_and_nothing_more()
    {
        var settings = app.Settings();
        settings["Postgres:ConnectionString"] = "Host=127.0.0.1;Port=1;Database=x;Username=x;Password=do-not-echo;Timeout=2";
        settings["AzureWebJobsStorage"] = TestApp.AzuriteConnectionString.Replace(":10000", ":1", StringComparison.Ordinal).Replace(":10001", ":1", StringComparison.Ordinal);
        using var host = TestApp.BuildHost(settings, app.Clock);

        var answer = await HealthAsync(host.Services);

        Assert.Equal(503, answer.Status);
        Assert.Equal("unreachable", answer.Json.GetProperty("database").GetString());
        Assert.Equal("unreachable", answer.Json.GetProperty("storage").GetString());
        Assert.Equal("unknown", answer.Json.GetProperty("migrations").GetProperty("status").GetString());
        Assert.DoesNotContain("do-not-echo", answer.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.1", answer.Body, StringComparison.Ordinal);
    }

    private static async Task<HttpAnswer> HealthAsync(IServiceProvider services)
    {
        var request = TestApp.Request([]);
        request.Method = "GET";
        var result = await ActivatorUtilities.CreateInstance<HealthFunction>(services).Health(request);
        return await TestApp.ExecuteAsync(request, result);
    }
}
