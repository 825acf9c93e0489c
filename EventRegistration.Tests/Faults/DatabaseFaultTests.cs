using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace EventRegistration.Tests.Faults;

/// <summary>
/// The database failing under the confirmation: a connection killed inside the transaction,
/// the server unreachable. Nothing half-done remains, callers get a retryable 503, and the
/// app recovers by itself.
/// </summary>
public sealed class DatabaseFaultTests(ProxiedDatabaseApp app) : IClassFixture<ProxiedDatabaseApp>
{
    [Fact]
    public async Task A_connection_killed_twice_inside_the_transaction_leaves_no_trace_and_answers_503()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paymentId = TestApp.NewPaymentId();

        HttpAnswer answer;
        await using (var blocker = await HoldEventRowAsync(eventId))
        {
            var confirming = Task.Run(() => app.ConfirmAsync(orderId, paymentId));
            await KillBackendWaitingForALockAsync();   // the first attempt dies holding the payment lock
            await KillBackendWaitingForALockAsync();   // and so does the app's own rerun
            answer = await confirming;
        }

        Assert.Equal(503, answer.Status);
        Assert.Equal("urn:eventregistration:problem:service-unavailable", answer.ProblemType);
        Assert.True(int.Parse(answer.Headers["Retry-After"]) > 0);
        Assert.Equal("pending", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from payments where payment_id = @paymentId", new { paymentId }));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from ticket_deliveries where registration_id = @registrationId", new { registrationId }));
        Assert.Equal(0, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));

        // The caller (browser or Razorpay) retries: exactly one confirmation.
        var retried = await app.ConfirmAsync(orderId, paymentId);
        Assert.Equal(200, retried.Status);
        Assert.Equal("paid", retried.Json.GetProperty("status").GetString());
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from ticket_deliveries where registration_id = @registrationId", new { registrationId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_connection_killed_once_is_rerun_by_the_app_and_confirms_once()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paymentId = TestApp.NewPaymentId();

        HttpAnswer answer;
        await using (var blocker = await HoldEventRowAsync(eventId))
        {
            var confirming = Task.Run(() => app.ConfirmAsync(orderId, paymentId));
            await KillBackendWaitingForALockAsync();
            await WaitForLockWaiterAsync();
            await blocker.RollbackAsync();
            answer = await confirming;
        }

        Assert.Equal(200, answer.Status);
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from ticket_deliveries where registration_id = @registrationId", new { registrationId }));
        Assert.True(await app.ScalarAsync<long>(
            "select count(*) from pg_stat_activity where datname = current_database() and state = 'idle in transaction'") == 0);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_database_that_is_gone_answers_503_promptly_and_recovery_needs_no_restart()
    {
        var eventId = await app.CreateEventAsync();
        var memberId = await app.CreateMemberAsync();
        var (_, orderId) = await app.OrderAsync(eventId, memberId);
        var paymentId = TestApp.NewPaymentId();

        app.Proxy.GoDown();
        try
        {
            var started = DateTime.UtcNow;
            var confirm = await app.ConfirmAsync(orderId, paymentId);
            var order = await app.CreateOrderAsync(eventId, await Task.FromResult(Guid.NewGuid()));
            var webhook = await app.WebhookAsync(Webhook.Payment("payment.captured", paymentId, orderId, 50_000, "captured"));
            var elapsed = DateTime.UtcNow - started;

            foreach (var answer in new[] { confirm, order, webhook })
            {
                Assert.Equal(503, answer.Status);
                Assert.Equal("urn:eventregistration:problem:service-unavailable", answer.ProblemType);
                Assert.True(answer.Headers.ContainsKey("Retry-After"));
            }

            // Bounded by the connection timeout (2 s here, attempted at most twice per request), not hung.
            Assert.True(elapsed < TimeSpan.FromSeconds(30), $"took {elapsed}");
        }
        finally
        {
            app.Proxy.Restore();
        }

        var recovered = await app.ConfirmAsync(orderId, paymentId);
        Assert.Equal(200, recovered.Status);
        Assert.Equal("paid", recovered.Json.GetProperty("status").GetString());
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Connections_cut_between_requests_are_replaced_without_an_error()
    {
        var eventId = await app.CreateEventAsync();
        var (_, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());

        app.Proxy.CutAll();
        var answer = await app.ConfirmAsync(orderId, TestApp.NewPaymentId());

        Assert.Equal(200, answer.Status);
    }

    /// <summary>
    /// A value the database refuses is its answer, not an outage: the connection is fine. It must
    /// not be run again, clear the pool, or come back as "unavailable".
    /// </summary>
    [Theory]
    [InlineData("insert into payments (payment_id, status, disposition, source) values ('pay_TRefused0001', 'captured', 'observed', 'nowhere')", "23514")]
    [InlineData("insert into payments (payment_id, status, disposition, source, error_description) values ('pay_TRefused0002', 'failed', 'failed_attempt', 'webhook', @Text)", "22021")]
    [InlineData("update events set attendee_count = -1", "23514")]
    public async Task A_value_the_database_refuses_is_run_once_and_is_not_an_outage(string sql, string sqlState)
    {
        await app.CreateEventAsync();
        var database = app.Services.GetRequiredService<Database>();
        var backendBefore = await database.RunAsync("test_pid", c => c.ExecuteScalarAsync<int>("select pg_backend_pid()"), CancellationToken.None);

        var transactionRuns = 0;
        var inTransaction = await Assert.ThrowsAnyAsync<Exception>(() => database.InTransactionAsync("test_refused", async (c, t) =>
        {
            transactionRuns++;
            return await c.ExecuteAsync(sql, new { Text = "a\0b" }, t);
        }, CancellationToken.None));
        var statementRuns = 0;
        var statement = await Assert.ThrowsAnyAsync<Exception>(() => database.RunAsync("test_refused", c =>
        {
            statementRuns++;
            return c.ExecuteAsync(sql, new { Text = "a\0b" });
        }, CancellationToken.None));

        Assert.Equal(1, transactionRuns);
        Assert.Equal(1, statementRuns);
        foreach (var e in new[] { inTransaction, statement })
        {
            Assert.IsNotType<DependencyUnavailableException>(e);
            var refused = Assert.IsType<DatabaseRefusedException>(e);
            Assert.Equal(sqlState, refused.SqlState);
        }

        // The pool was not cleared: the same server session answers next.
        var backendAfter = await database.RunAsync("test_pid", c => c.ExecuteScalarAsync<int>("select pg_backend_pid()"), CancellationToken.None);
        Assert.Equal(backendBefore, backendAfter);
        await app.AssertAllAsync();
    }

    private async Task<RowLock> HoldEventRowAsync(Guid eventId)
    {
        var connection = new NpgsqlConnection(app.ConnectionString);
        await connection.OpenAsync();
        var transaction = await connection.BeginTransactionAsync();
        await connection.ExecuteAsync("select 1 from events where id = @eventId for update", new { eventId }, transaction);
        return new RowLock(connection, transaction);
    }

    private async Task<int> WaitForLockWaiterAsync()
    {
        for (var i = 0; i < 200; i++)
        {
            var pid = await app.ScalarAsync<int?>("""
                select coalesce((select pid from pg_stat_activity
                  where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid() limit 1), 0)
                """);
            if (pid is > 0)
            {
                return pid.Value;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("No confirmation ever waited on the event lock.");
    }

    private async Task KillBackendWaitingForALockAsync()
    {
        var pid = await WaitForLockWaiterAsync();
        await app.ExecuteAsync("select pg_terminate_backend(@pid)", new { pid });
        for (var i = 0; i < 100 && await app.ScalarAsync<bool>("select exists (select 1 from pg_stat_activity where pid = @pid)", new { pid }); i++)
        {
            await Task.Delay(20);
        }
    }

    /// <summary>A test's own transaction holding a row lock; disposing it rolls back and closes the connection.</summary>
    private sealed class RowLock(NpgsqlConnection connection, NpgsqlTransaction transaction) : IAsyncDisposable
    {
        public Task RollbackAsync() => transaction.RollbackAsync();

        public async ValueTask DisposeAsync()
        {
            await transaction.DisposeAsync();
            await connection.DisposeAsync();
        }
    }
}
