using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventRegistration.Tests.Tickets;

/// <summary>The app with a 1 s WhatsApp timeout and the shortest blob lease (15 s, renewed every 5 s).</summary>
public sealed class ShortTimeoutsApp : TestApp
{
    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["WhatsApp:TimeoutSeconds"] = "1";
        settings["Tickets:LeaseSeconds"] = "15";
    }
}

/// <summary>WhatsApp not answering in time, and a lease lost while working. Waits are bounds, never assertions.</summary>
public sealed class TicketTimeoutTests(ShortTimeoutsApp app) : IClassFixture<ShortTimeoutsApp>
{
    [Fact]
    public async Task A_send_that_times_out_stays_sending_and_is_resent_only_after_the_threshold()
    {
        var ticket = await app.PaidTicketAsync();
        app.WhatsApp.SendDelay = TimeSpan.FromSeconds(3);
        using var metrics = new TicketMetricsRecorder(app);
        try
        {
            // Completes: the resend is scheduled, not left to the queue's dequeue count.
            await app.DeliverAsync(ticket.QueueMessage);
        }
        finally
        {
            app.WhatsApp.ClearFailures();
        }

        // WhatsApp may have acted on the request: the outcome is unknown, so the delivery stays 'sending'.
        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("sending", delivery.Status);
        Assert.Equal(1, delivery.Attempts);
        Assert.Contains("no answer", delivery.LastError);
        Assert.True(delivery.NextAttemptAt >= delivery.LastAttemptAt!.Value.AddSeconds(60));
        Assert.Equal(1, metrics.Count("eventregistration.tickets.sends", "result", "outcome_unknown"));

        // A copy that comes too early to rule out the first send: nothing is sent.
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Single(app.WhatsApp.SendAttemptsTo(ticket.Phone));

        app.Clock.Advance(TimeSpan.FromMinutes(2));
        await app.DeliverAsync(ticket.QueueMessage);

        delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("sent", delivery.Status);
        Assert.Equal(2, delivery.Attempts);
        Assert.Equal(2, app.WhatsApp.SendAttemptsTo(ticket.Phone).Count);
        Assert.Contains(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_resent_after_unknown_outcome");
    }

    [Fact]
    public async Task Creating_the_lock_blob_first_never_takes_or_breaks_a_held_lease()
    {
        var locks = app.Services.GetRequiredService<TicketLocks>();
        var registrationId = Guid.NewGuid();
        var first = await locks.TryAcquireAsync(registrationId, firstDelivery: true, CancellationToken.None);
        Assert.NotNull(first);

        // A copy that also believes it is first: its create meets the leased blob, its acquire the lease.
        Assert.Null(await locks.TryAcquireAsync(registrationId, firstDelivery: true, CancellationToken.None));
        Assert.Null(await locks.TryAcquireAsync(registrationId, firstDelivery: false, CancellationToken.None));

        await first.DisposeAsync();
        await using var second = await locks.TryAcquireAsync(registrationId, firstDelivery: true, CancellationToken.None);
        Assert.NotNull(second);
    }

    [Fact]
    public async Task A_lease_that_cannot_be_renewed_signals_the_holder_to_stop()
    {
        var locks = app.Services.GetRequiredService<TicketLocks>();
        var registrationId = Guid.NewGuid();
        await using var lease = await locks.TryAcquireAsync(registrationId, firstDelivery: false, CancellationToken.None);
        Assert.NotNull(lease);
        Assert.Null(await locks.TryAcquireAsync(registrationId, firstDelivery: true, CancellationToken.None));

        // Someone breaks the lease and takes it: the holder's next renewal (every 5 s) fails.
        var blob = new BlobContainerClient(TestApp.AzuriteConnectionString, "ticket-locks").GetBlobClient(registrationId.ToString());
        await blob.GetBlobLeaseClient().BreakAsync(TimeSpan.Zero);
        await blob.GetBlobLeaseClient().AcquireAsync(TimeSpan.FromSeconds(15));

        await Task.WhenAny(Task.Delay(Timeout.Infinite, lease.Lost), Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.True(lease.Lost.IsCancellationRequested);
        Assert.Throws<TicketRetryLaterException>(lease.ThrowIfLost);
    }
}
