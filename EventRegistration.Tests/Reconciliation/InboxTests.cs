using System.Text;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Reconciliation;

public sealed class InboxTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task A_webhook_stored_but_never_processed_is_applied_by_the_run_once()
    {
        var eventId = await app.CreateEventAsync(capacity: 10);
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paymentId = TestApp.NewPaymentId();
        // The webhook request stored its body and died before acting on it.
        await app.ExecuteAsync("""
            insert into webhook_inbox (event_id, event_type, body, received_at) values ('evt_TStored0001', 'payment.captured', @Body, @Now)
            """, new { Body = Encoding.UTF8.GetBytes(Webhook.Payment("payment.captured", paymentId, orderId, 50_000, "captured")), Now = app.Clock.GetUtcNow().UtcDateTime });

        var early = await app.ReconcileAsync();
        Assert.Equal(0, early.Count("inbox", "reprocessed"));

        app.Clock.Advance(TimeSpan.FromMinutes(3));
        var run = await app.ReconcileAsync();

        Assert.Equal(1, run.Count("inbox", "reprocessed"));
        Assert.Equal(0, run.Count("orders", "checked"));
        var inbox = (await app.QueryAsync<(DateTime? ProcessedAt, string Outcome)>("select processed_at, outcome from webhook_inbox where event_id = 'evt_TStored0001'")).Single();
        Assert.NotNull(inbox.ProcessedAt);
        Assert.Equal("paid", inbox.Outcome);
        Assert.Equal(paymentId, await app.ScalarAsync<string>("select payment_id from event_registrations where id = @registrationId and status = 'paid'", new { registrationId }));

        var again = await app.ReconcileAsync();
        Assert.Equal(0, again.Count("inbox", "reprocessed"));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_stored_webhook_the_database_refuses_is_recorded_for_an_operator_once_and_not_retried_every_run()
    {
        var eventId = await app.CreateEventAsync(capacity: 10);
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var body = Webhook.Payment("payment.failed", TestApp.NewPaymentId(), orderId, 50_000, "failed")
            .Replace("Payment failed at the bank", "Bank said \\u0000 no");
        await app.ExecuteAsync("""
            insert into webhook_inbox (event_id, event_type, body, received_at) values ('evt_TStoredNul01', 'payment.failed', @Body, @Now)
            """, new { Body = Encoding.UTF8.GetBytes(body), Now = app.Clock.GetUtcNow().UtcDateTime });
        app.Clock.Advance(TimeSpan.FromMinutes(3));

        var run = await app.ReconcileAsync();

        Assert.Equal(1, run.Count("inbox", "unprocessable"));
        Assert.Equal(0, run.Count("inbox", "errors"));
        var inbox = (await app.QueryAsync<(DateTime? ProcessedAt, string Outcome, string LastError)>(
            "select processed_at, outcome, last_error from webhook_inbox where event_id = 'evt_TStoredNul01'")).Single();
        Assert.NotNull(inbox.ProcessedAt);
        Assert.Equal("unprocessable", inbox.Outcome);
        Assert.Contains("22021", inbox.LastError);
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from anomalies where kind = 'webhook_unprocessable' and detail like '%evt_TStoredNul01%'"));
        Assert.Equal("pending", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));

        var again = await app.ReconcileAsync();
        Assert.Equal(0, again.Count("inbox", "unprocessable"));
        Assert.Equal(0, again.Count("inbox", "errors"));
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from anomalies where kind = 'webhook_unprocessable' and detail like '%evt_TStoredNul01%'"));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Processed_bodies_are_purged_after_the_retention_and_the_event_id_still_dedupes()
    {
        var eventId = await app.CreateEventAsync(capacity: 10);
        var (_, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var old = Webhook.Payment("payment.captured", TestApp.NewPaymentId(), orderId, 50_000, "captured");
        Assert.Equal(200, (await app.WebhookAsync(old, "evt_TRetainOld01")).Status);

        app.Clock.Advance(TimeSpan.FromDays(29));
        var (_, recentOrder) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        Assert.Equal(200, (await app.WebhookAsync(Webhook.Payment("payment.captured", TestApp.NewPaymentId(), recentOrder, 50_000, "captured"), "evt_TRetainNew01")).Status);

        app.Clock.Advance(TimeSpan.FromDays(2));   // the first is 31 days old, past the default 30; the second 2 days
        var run = await app.ReconcileAsync();

        Assert.True(run.Count("inbox", "purged") >= 1, run.ToString());
        var rows = (await app.QueryAsync<(string EventId, bool HasBody, DateTime? PurgedAt, string Outcome)>(
            "select event_id, body is not null, body_purged_at, outcome from webhook_inbox where event_id like 'evt_TRetain%' order by event_id")).ToList();
        Assert.Equal(("evt_TRetainNew01", true), (rows[0].EventId, rows[0].HasBody));
        Assert.Null(rows[0].PurgedAt);
        Assert.Equal(("evt_TRetainOld01", false), (rows[1].EventId, rows[1].HasBody));
        Assert.NotNull(rows[1].PurgedAt);
        Assert.Equal("paid", rows[1].Outcome);
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from webhook_inbox where body is not null and processed_at < @Before",
            new { Before = app.Clock.GetUtcNow().UtcDateTime - TimeSpan.FromDays(30) }));

        // A late redelivery of the purged event is still recognised and not applied again.
        var late = await app.WebhookAsync(old, "evt_TRetainOld01");
        Assert.Equal("duplicate", late.Json.GetProperty("status").GetString());
        Assert.Equal(2, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        await app.AssertAllAsync();
    }
}
