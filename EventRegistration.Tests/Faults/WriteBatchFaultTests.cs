using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Faults;

/// <summary>
/// Failures in the confirmation's last round trip: the writes of a paid registration, which ends
/// the transaction, made to fail or stall by <see cref="PaymentWriteFaults"/>. Each failure must
/// undo the writes before it in the same batch and be classified as any other failure is.
/// </summary>
public sealed class WriteBatchFaultTests(TestApp app) : IClassFixture<TestApp>, IAsyncLifetime
{
    public Task InitializeAsync() => PaymentWriteFaults.InstallAsync(app);

    public Task DisposeAsync() => Task.CompletedTask;

    [Theory]
    [InlineData("23505")]   // unique violation: another transaction wrote the row first
    [InlineData("40P01")]   // deadlock
    public async Task A_rerun_failure_in_the_write_batch_runs_the_transaction_again_and_confirms_once(string sqlState)
    {
        var (eventId, registrationId, orderId, paymentId) = await PendingOrderAsync();
        var counter = await InjectAsync(paymentId, sqlState, attemptsFailing: 1);

        var answer = await app.ConfirmAsync(orderId, paymentId);

        Assert.Equal(200, answer.Status);
        Assert.Equal("paid", answer.Json.GetProperty("status").GetString());
        Assert.Equal(2, await AttemptsAsync(counter));
        await AssertPaidOnceAsync(eventId, registrationId, paymentId);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_lock_timeout_in_the_write_batch_answers_503_busy_and_leaves_nothing_written()
    {
        var (eventId, registrationId, orderId, paymentId) = await PendingOrderAsync();
        var counter = await InjectAsync(paymentId, "55P03", attemptsFailing: 1);

        var answer = await app.ConfirmAsync(orderId, paymentId);

        Assert.Equal(503, answer.Status);
        Assert.Equal("urn:eventregistration:problem:service-unavailable", answer.ProblemType);
        Assert.Equal("2", answer.Headers["Retry-After"]);
        Assert.Equal(1, await AttemptsAsync(counter));
        await AssertNothingWrittenAsync(eventId, registrationId, paymentId);
        await app.AssertAllAsync();

        var retried = await app.ConfirmAsync(orderId, paymentId);
        Assert.Equal(200, retried.Status);
        await AssertPaidOnceAsync(eventId, registrationId, paymentId);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_value_refused_in_the_write_batch_is_not_run_again_and_leaves_nothing_written()
    {
        var (eventId, registrationId, orderId, paymentId) = await PendingOrderAsync();
        var counter = await InjectAsync(paymentId, "23514", attemptsFailing: 1);

        var answer = await app.ConfirmAsync(orderId, paymentId);

        Assert.Equal(422, answer.Status);
        Assert.Equal("urn:eventregistration:problem:value-refused", answer.ProblemType);
        Assert.Equal(1, await AttemptsAsync(counter));
        await AssertNothingWrittenAsync(eventId, registrationId, paymentId);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_connection_lost_in_the_write_batch_is_rerun_and_confirms_once()
    {
        var (eventId, registrationId, orderId, paymentId) = await PendingOrderAsync();
        var counter = await InjectAsync(paymentId, sqlState: null, attemptsFailing: 1);

        var confirming = Task.Run(() => app.ConfirmAsync(orderId, paymentId));
        await KillStalledWriterAsync();
        var answer = await confirming;

        Assert.Equal(200, answer.Status);
        Assert.Equal("paid", answer.Json.GetProperty("status").GetString());
        Assert.Equal(2, await AttemptsAsync(counter));
        await AssertPaidOnceAsync(eventId, registrationId, paymentId);
        Assert.Equal(0, await app.ScalarAsync<long>(
            "select count(*) from pg_stat_activity where datname = current_database() and state = 'idle in transaction'"));
        await app.AssertAllAsync();
    }

    private async Task<(Guid EventId, Guid RegistrationId, string OrderId, string PaymentId)> PendingOrderAsync()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        return (eventId, registrationId, orderId, TestApp.NewPaymentId());
    }

    private Task<string> InjectAsync(string paymentId, string? sqlState, int attemptsFailing) =>
        PaymentWriteFaults.InjectAsync(app, paymentId, sqlState, attemptsFailing);

    private Task<long> AttemptsAsync(string counter) => PaymentWriteFaults.AttemptsAsync(app, counter);

    private async Task AssertPaidOnceAsync(Guid eventId, Guid registrationId, string paymentId)
    {
        Assert.Equal("paid", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from ticket_deliveries where registration_id = @registrationId", new { registrationId }));
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from payments where payment_id = @paymentId", new { paymentId }));
    }

    /// <summary>The statements before the failing one in the same batch (registration, seat, delivery) were undone with it.</summary>
    private async Task AssertNothingWrittenAsync(Guid eventId, Guid registrationId, string paymentId)
    {
        Assert.Equal("pending", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal(0, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from ticket_deliveries where registration_id = @registrationId", new { registrationId }));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from payments where payment_id = @paymentId", new { paymentId }));
    }

    private async Task KillStalledWriterAsync()
    {
        for (var i = 0; i < 400; i++)
        {
            var pid = await app.ScalarAsync<int>("""
                select coalesce((select pid from pg_stat_activity
                  where datname = current_database() and wait_event = 'PgSleep' and pid <> pg_backend_pid() limit 1), 0)
                """);
            if (pid > 0)
            {
                await app.ExecuteAsync("select pg_terminate_backend(@pid)", new { pid });
                return;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("The confirmation never reached its write batch.");
    }
}
