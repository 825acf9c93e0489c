using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Faults;

namespace EventRegistration.Tests.Tickets;

/// <summary>
/// A scheduled retry needs the queue. When it cannot take the delayed message, the schedule is
/// withdrawn and the invocation fails, so the runtime brings the original message back and it is
/// acted on (not mistaken for an early copy of a message that was never sent).
/// </summary>
public sealed class TicketQueueDownTests(StorageFaultTests.ProxiedStorageApp app) : IClassFixture<StorageFaultTests.ProxiedStorageApp>, IDisposable
{
    public void Dispose() => app.WhatsApp.ClearFailures();

    [Fact]
    public async Task A_retry_the_queue_cannot_take_is_withdrawn_and_the_message_comes_back_through_the_runtime()
    {
        var ticket = await app.PaidTicketAsync();
        app.WhatsApp.FailNextSends(429, 130429, retryAfter: "5");

        app.QueueProxy.GoDown();
        try
        {
            await Assert.ThrowsAsync<TicketRetryLaterException>(() => app.DeliverAsync(ticket.QueueMessage));
        }
        finally
        {
            app.QueueProxy.Restore();
        }

        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("queued", delivery.Status);
        // A throughput limit spends no attempt; the withdrawn schedule matches the attempt given back.
        Assert.Equal(0, delivery.Attempts);
        Assert.Contains("rate_limited", delivery.LastError);
        Assert.Null(delivery.NextAttemptAt);

        // host.json's visibilityTimeout later, the same message again: due, so it sends.
        app.Clock.Advance(TimeSpan.FromSeconds(30));
        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        Assert.Equal("sent", (await app.DeliveryAsync(ticket.RegistrationId)).Status);
    }
}
