using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace EventRegistration.Tests.Foundation;

/// <summary>
/// The app runs with Npgsql's automatic preparation, as deployed (infra/README.md, "Prepared
/// statements through PgBouncer"): its statements are prepared on the server, and the additive
/// migrations this project makes do not break them, because no statement reads <c>*</c> from a table.
/// </summary>
public sealed class AutoPrepareTests(AutoPrepareTests.OneConnectionApp app) : IClassFixture<AutoPrepareTests.OneConnectionApp>
{
    /// <summary>One physical connection, so what the app prepared can be read from that very session.</summary>
    public sealed class OneConnectionApp : TestApp
    {
        protected override void Configure(IDictionary<string, string?> settings) =>
            settings["Postgres:ConnectionString"] = new NpgsqlConnectionStringBuilder(ConnectionString) { MaxPoolSize = 1, Timeout = 30 }.ConnectionString;
    }

    [Fact]
    public async Task Confirmation_statements_are_prepared_and_survive_columns_added_to_their_tables()
    {
        var eventId = await app.CreateEventAsync(capacity: 100);
        for (var i = 0; i < 6; i++)
        {
            await ConfirmOneAsync(eventId);
        }

        var before = await PreparedAsync();
        Assert.True(before.Count >= 3, $"the confirmation's statements should be prepared after six confirmations; prepared: {string.Join(" | ", before)}");

        // An additive migration while the app runs: every table the confirmation reads or writes gains a column.
        await app.ExecuteAsync("""
            alter table events add column prepared_statement_probe text;
            alter table event_registrations add column prepared_statement_probe text;
            alter table payments add column prepared_statement_probe text;
            alter table members add column prepared_statement_probe text;
            """);

        for (var i = 0; i < 3; i++)
        {
            await ConfirmOneAsync(eventId);
        }

        // The same prepared statements answered (none was dropped and prepared again to get past the change).
        Assert.Superset(before.ToHashSet(), (await PreparedAsync()).ToHashSet());
        Assert.Equal(9, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        await app.AssertAllAsync();
    }

    private async Task ConfirmOneAsync(Guid eventId)
    {
        var (_, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var answer = await app.ConfirmAsync(orderId, TestApp.NewPaymentId());
        Assert.True(answer.Status == 200, answer.ToString());
    }

    /// <summary>The statements prepared on the app's one connection, by name and text.</summary>
    private async Task<List<string>> PreparedAsync()
    {
        await using var connection = await app.Services.GetRequiredService<Database>().DataSource.OpenConnectionAsync();
        return (await connection.QueryAsync<string>("select name || ': ' || statement from pg_prepared_statements order by name")).ToList();
    }
}
