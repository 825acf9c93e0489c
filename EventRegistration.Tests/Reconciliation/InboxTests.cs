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
            """, new { Body = Webhook.Payment("payment.captured", paymentId, orderId, 50_000, "captured"), Now = app.Clock.GetUtcNow().UtcDateTime });

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
}
