using Dapper;
using EventRegistration.Tests.Infrastructure;
using Npgsql;
using Xunit.Abstractions;

namespace EventRegistration.Tests.Webhooks;

/// <summary>
/// Razorpay counts a webhook without an answer within 5 s as failed. The webhook must answer 503
/// inside its own budget rather than sit in a lock queue past that, and keep what it stored.
/// </summary>
public sealed class WebhookTimeBudgetTests(WebhookTimeBudgetTests.SlowLocksApp app, ITestOutputHelper output) : IClassFixture<WebhookTimeBudgetTests.SlowLocksApp>
{
    /// <summary>A lock timeout far beyond the budget, so only the budget can answer in time.</summary>
    public sealed class SlowLocksApp : TestApp
    {
        protected override void Configure(IDictionary<string, string?> settings)
        {
            settings["Postgres:LockTimeoutMilliseconds"] = "60000";
            settings["Webhooks:TimeBudgetMilliseconds"] = "1000";
        }
    }

    [Fact]
    public async Task A_webhook_that_must_wait_for_a_lock_answers_503_within_its_budget_and_keeps_the_stored_row()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var body = Webhook.Payment("payment.captured", TestApp.NewPaymentId(), orderId, 50_000, "captured");

        HttpAnswer answer;
        await using (var holder = new NpgsqlConnection(app.ConnectionString))
        {
            await holder.OpenAsync();
            await using var transaction = await holder.BeginTransactionAsync();
            await holder.ExecuteAsync("select 1 from events where id = @eventId for update", new { eventId }, transaction);

            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            var webhook = app.WebhookAsync(body, "evt_TBudget00001");
            // The watchdog is far beyond the 1 s budget: only a webhook with no budget at all reaches it.
            var first = await Task.WhenAny(webhook, Task.Delay(TimeSpan.FromSeconds(20)));
            await transaction.RollbackAsync();
            Assert.True(first == webhook, "the webhook was still waiting for the lock after 20 s");
            answer = await webhook;
            output.WriteLine($"answered {answer.Status} after {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds:F0} ms (budget 1000 ms, lock timeout 60000 ms)");
        }

        Assert.True(answer.Status == 503, answer.ToString());
        Assert.Equal("urn:eventregistration:problem:service-unavailable", answer.ProblemType);
        Assert.True(int.Parse(answer.Headers["Retry-After"]) > 0);
        var row = (await app.QueryAsync<(DateTime? ProcessedAt, string? LastError)>(
            "select processed_at, last_error from webhook_inbox where event_id = 'evt_TBudget00001'")).Single();
        Assert.Null(row.ProcessedAt);
        Assert.Equal("pending", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal(0, await app.ScalarAsync<long>(
            "select count(*) from pg_stat_activity where datname = current_database() and state = 'idle in transaction'"));

        // Razorpay delivers again once the lock is free: applied once.
        var again = await app.WebhookAsync(body, "evt_TBudget00001");
        Assert.Equal(200, again.Status);
        Assert.Equal("processed", again.Json.GetProperty("status").GetString());
        Assert.Equal("paid", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        await app.AssertAllAsync();
    }
}
