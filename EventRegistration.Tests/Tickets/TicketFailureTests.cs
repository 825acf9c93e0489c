using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventRegistration.Tests.Tickets;

/// <summary>WhatsApp refusing, the lease held elsewhere, a crash mid-send and poisoned messages.</summary>
public sealed class TicketFailureTests(TestApp app) : IClassFixture<TestApp>, IDisposable
{
    public void Dispose() => app.WhatsApp.ClearFailures();

    [Fact]
    public async Task Rate_limited_then_accepted_sends_one_message_and_the_attempts_show_the_retry()
    {
        var ticket = await app.PaidTicketAsync();
        app.WhatsApp.FailNextSends(429, 130429, retryAfter: "7");

        var retry = await Assert.ThrowsAsync<TicketRetryLaterException>(() => app.DeliverAsync(ticket.QueueMessage));
        Assert.Equal(TimeSpan.FromSeconds(7), retry.RetryAfter);
        var afterFirst = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("queued", afterFirst.Status);
        Assert.Equal(1, afterFirst.Attempts);
        Assert.Contains("130429", afterFirst.LastError);
        Assert.Contains("rate_limited", afterFirst.LastError);

        // The runtime makes the message visible again after the visibility timeout.
        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Equal(2, app.WhatsApp.SendAttemptsTo(ticket.Phone).Count);
        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("sent", delivery.Status);
        Assert.Equal(2, delivery.Attempts);
        Assert.Null(delivery.LastError);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Server_errors_on_the_send_are_retried_and_the_ticket_goes_out_once()
    {
        var ticket = await app.PaidTicketAsync();
        app.WhatsApp.FailNextSends(500, 131000, times: 2);

        await Assert.ThrowsAsync<TicketRetryLaterException>(() => app.DeliverAsync(ticket.QueueMessage));
        await Assert.ThrowsAsync<TicketRetryLaterException>(() => app.DeliverAsync(ticket.QueueMessage));
        Assert.Equal("queued", (await app.DeliveryAsync(ticket.RegistrationId)).Status);
        await app.DeliverAsync(ticket.QueueMessage);
        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Equal(3, app.WhatsApp.SendAttemptsTo(ticket.Phone).Count);
        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("sent", delivery.Status);
        Assert.Equal(3, delivery.Attempts);
        await app.AssertAllAsync();
    }

    [Theory]
    [InlineData(400, 131026, "invalid_recipient")]
    [InlineData(400, 132001, "template_problem")]
    [InlineData(401, 190, "access_token_invalid")]
    public async Task A_permanent_WhatsApp_error_fails_the_delivery_with_its_reason_and_sends_nothing_more(int status, int code, string category)
    {
        using var metrics = new TicketMetricsRecorder(app);
        var ticket = await app.PaidTicketAsync();
        app.WhatsApp.FailNextSends(status, code);

        await app.DeliverAsync(ticket.QueueMessage);

        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("failed", delivery.Status);
        Assert.Equal(1, delivery.Attempts);
        Assert.Contains(code.ToString(System.Globalization.CultureInfo.InvariantCulture), delivery.LastError);
        Assert.Contains(category, delivery.LastError);
        Assert.Null(delivery.Wamid);
        Assert.Contains(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_failed" && a.Detail.Contains(category));
        Assert.Equal(1, metrics.Count("eventregistration.tickets.sends", "result", "permanent_failure"));

        // Redeliveries of the same message change nothing and send nothing.
        await app.DeliverAsync(ticket.QueueMessage);
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Single(app.WhatsApp.SendAttemptsTo(ticket.Phone));
        Assert.Empty(app.WhatsApp.SentTo(ticket.Phone));
        Assert.Equal(delivery, await app.DeliveryAsync(ticket.RegistrationId));
    }

    [Fact]
    public async Task A_permanent_error_on_the_media_upload_fails_the_delivery_without_a_send()
    {
        var ticket = await app.PaidTicketAsync();
        app.WhatsApp.FailNextUploads(401, 190);

        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Equal("failed", (await app.DeliveryAsync(ticket.RegistrationId)).Status);
        Assert.Empty(app.WhatsApp.SendAttemptsTo(ticket.Phone));
    }

    [Fact]
    public async Task A_server_error_on_the_media_upload_is_retried_and_the_ticket_goes_out_once()
    {
        using var metrics = new TicketMetricsRecorder(app);
        var ticket = await app.PaidTicketAsync();
        app.WhatsApp.FailNextUploads(503, 131000);

        await Assert.ThrowsAsync<TicketRetryLaterException>(() => app.DeliverAsync(ticket.QueueMessage));
        Assert.Equal("queued", (await app.DeliveryAsync(ticket.RegistrationId)).Status);
        Assert.Equal(1, metrics.Count("eventregistration.tickets.sends", "result", "transient_failure"));

        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        Assert.Equal(1, metrics.Count("eventregistration.tickets.sends", "result", "sent"));
    }

    [Fact]
    public async Task While_another_worker_holds_the_lease_nothing_is_sent_and_the_message_is_retried()
    {
        var ticket = await app.PaidTicketAsync();
        var container = new BlobContainerClient(TestApp.AzuriteConnectionString, "ticket-locks");
        await container.CreateIfNotExistsAsync();
        var blob = container.GetBlobClient(ticket.RegistrationId.ToString());
        await blob.UploadAsync(BinaryData.Empty, overwrite: true);
        var lease = blob.GetBlobLeaseClient();
        await lease.AcquireAsync(TimeSpan.FromSeconds(15));
        try
        {
            await Assert.ThrowsAsync<TicketLeaseTakenException>(() => app.DeliverAsync(ticket.QueueMessage));

            Assert.Empty(app.WhatsApp.SendAttemptsTo(ticket.Phone));
            Assert.Empty(app.WhatsApp.UploadsFor(ticket.RegistrationId));
            var delivery = await app.DeliveryAsync(ticket.RegistrationId);
            Assert.Equal("queued", delivery.Status);
            Assert.Equal(0, delivery.Attempts);
        }
        finally
        {
            await lease.ReleaseAsync();
        }

        // The retried message finds the lease free.
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
    }

    [Fact]
    public async Task A_lease_held_elsewhere_on_an_already_sent_ticket_ends_quietly()
    {
        var ticket = await app.PaidTicketAsync();
        await app.DeliverAsync(ticket.QueueMessage);
        var lease = new BlobContainerClient(TestApp.AzuriteConnectionString, "ticket-locks")
            .GetBlobClient(ticket.RegistrationId.ToString()).GetBlobLeaseClient();
        await lease.AcquireAsync(TimeSpan.FromSeconds(15));
        try
        {
            await app.DeliverAsync(ticket.QueueMessage);
        }
        finally
        {
            await lease.ReleaseAsync();
        }

        Assert.Single(app.WhatsApp.SendAttemptsTo(ticket.Phone));
    }

    [Fact]
    public async Task An_attempt_that_never_recorded_its_outcome_is_resent_only_after_the_threshold_and_flagged()
    {
        var ticket = await app.PaidTicketAsync();
        // A worker committed 'sending', called WhatsApp and died before recording the wamid.
        await app.ExecuteAsync("""
            update ticket_deliveries set status = 'sending', attempts = 1, last_attempt_at = @Now where registration_id = @RegistrationId
            """, new { Now = app.Clock.GetUtcNow().UtcDateTime, ticket.RegistrationId });

        var early = await Assert.ThrowsAsync<TicketRetryLaterException>(() => app.DeliverAsync(ticket.QueueMessage));
        Assert.NotNull(early.RetryAfter);
        Assert.Empty(app.WhatsApp.SendAttemptsTo(ticket.Phone));
        Assert.Equal("sending", (await app.DeliveryAsync(ticket.RegistrationId)).Status);

        app.Clock.Advance(TimeSpan.FromSeconds(61));
        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("sent", delivery.Status);
        Assert.Equal(2, delivery.Attempts);
        Assert.Contains(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_resent_after_unknown_outcome");
    }

    [Fact]
    public async Task A_poisoned_message_ends_as_a_recorded_failure_on_its_registration()
    {
        var ticket = await app.PaidTicketAsync();
        app.WhatsApp.FailNextSends(503, 131000, times: 5);

        // maxDequeueCount (host.json) tries, each failing transiently.
        for (var dequeue = 1; dequeue <= 5; dequeue++)
        {
            await Assert.ThrowsAsync<TicketRetryLaterException>(() => app.DeliverAsync(ticket.QueueMessage));
        }

        // The runtime moves the message, as is, to <queue>-poison; the poison function takes it from there.
        var poisonQueue = app.Services.GetRequiredService<TicketQueue>().PoisonClient;
        await poisonQueue.CreateIfNotExistsAsync();
        await poisonQueue.SendMessageAsync(ticket.QueueMessage);
        var poisoned = (await poisonQueue.ReceiveMessageAsync()).Value;
        await app.Function<RecordPoisonedTicketFunction>().RecordPoisonedTicket(poisoned.MessageText, CancellationToken.None);
        await poisonQueue.DeleteMessageAsync(poisoned.MessageId, poisoned.PopReceipt);

        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("failed", delivery.Status);
        Assert.Equal(5, delivery.Attempts);
        Assert.StartsWith("poisoned after 5 attempts", delivery.LastError);
        Assert.Contains(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_poisoned" && a.Detail.Contains("poisoned after 5 attempts"));

        // A late copy of the message sends nothing.
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Empty(app.WhatsApp.SentTo(ticket.Phone));
        Assert.Equal(5, app.WhatsApp.SendAttemptsTo(ticket.Phone).Count);
    }

    [Fact]
    public async Task A_poisoned_copy_of_a_sent_ticket_leaves_it_sent_and_is_noted()
    {
        var ticket = await app.PaidTicketAsync();
        await app.DeliverAsync(ticket.QueueMessage);

        await app.Function<RecordPoisonedTicketFunction>().RecordPoisonedTicket(ticket.QueueMessage, CancellationToken.None);

        Assert.Equal("sent", (await app.DeliveryAsync(ticket.RegistrationId)).Status);
        Assert.Contains(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_poisoned");
    }

    [Theory]
    [InlineData("this is not json")]
    [InlineData("""{"registrationId":"not-a-guid"}""")]
    [InlineData("{}")]
    public async Task An_unreadable_poisoned_message_is_recorded_without_a_registration(string text)
    {
        var before = (await app.AnomaliesAsync(null)).Count;

        await app.Function<RecordPoisonedTicketFunction>().RecordPoisonedTicket(text, CancellationToken.None);

        var anomalies = await app.AnomaliesAsync(null);
        Assert.Equal(before + 1, anomalies.Count);
        Assert.Equal("ticket_message_unreadable", anomalies[^1].Kind);
        Assert.Contains(text, anomalies[^1].Detail);
    }

    [Fact]
    public async Task An_unreadable_message_on_the_ticket_queue_fails_so_that_it_reaches_the_poison_queue()
    {
        await Assert.ThrowsAsync<UnreadableTicketMessageException>(() => app.DeliverAsync("""{"registration":"x"}"""));
        Assert.DoesNotContain(app.WhatsApp.SendAttempts, a => a.Text.Contains("\"x\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_refunded_registration_gets_no_ticket()
    {
        var ticket = await app.PaidTicketAsync();
        var (paymentId, amount) = (await app.QueryAsync<(string, long)>(
            "select payment_id, amount_paise from event_registrations where id = @RegistrationId", new { ticket.RegistrationId })).Single();
        var refunded = await app.WebhookAsync(Webhook.Refund("refund.processed", "rfnd_T" + Guid.NewGuid().ToString("N")[..14], paymentId, amount));
        Assert.Equal("refunded_seat_released", refunded.Json.GetProperty("outcome").GetString());

        await app.DeliverAsync(ticket.QueueMessage);

        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("failed", delivery.Status);
        Assert.Contains("refunded", delivery.LastError);
        Assert.Empty(app.WhatsApp.SendAttemptsTo(ticket.Phone));
    }
}
