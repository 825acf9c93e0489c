using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Tests.Tickets;

/// <summary>WhatsApp refusing, the lease held elsewhere, a crash mid-send and poisoned messages.</summary>
public sealed class TicketFailureTests(TestApp app) : IClassFixture<TestApp>, IDisposable
{
    public void Dispose() => app.WhatsApp.ClearFailures();

    [Fact]
    public async Task Rate_limited_then_accepted_sends_one_message_after_the_pause_WhatsApp_asked_for_without_spending_an_attempt()
    {
        var ticket = await app.PaidTicketAsync();
        app.WhatsApp.FailNextSends(429, 130429, retryAfter: "90");
        var queued = await app.MessagesOnQueueAsync();

        // Completes: the retry is scheduled, not left to the queue's dequeue count.
        await app.DeliverAsync(ticket.QueueMessage);

        var afterFirst = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("queued", afterFirst.Status);
        Assert.Equal(0, afterFirst.Attempts);
        Assert.Contains("130429", afterFirst.LastError);
        Assert.Contains("rate_limited", afterFirst.LastError);
        Assert.True(afterFirst.NextAttemptAt - afterFirst.LastAttemptAt >= TimeSpan.FromSeconds(90), $"{afterFirst.LastAttemptAt:O} → {afterFirst.NextAttemptAt:O}");
        Assert.Equal(queued + 1, await app.MessagesOnQueueAsync());

        // A copy before the pause is over sends nothing and schedules nothing more.
        app.Clock.Advance(TimeSpan.FromSeconds(60));
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Single(app.WhatsApp.SendAttemptsTo(ticket.Phone));
        Assert.Equal(queued + 1, await app.MessagesOnQueueAsync());

        // The scheduled message arrives.
        await app.AdvanceToNextAttemptAsync(ticket.RegistrationId);
        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Equal(2, app.WhatsApp.SendAttemptsTo(ticket.Phone).Count);
        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("sent", delivery.Status);
        Assert.Equal(1, delivery.Attempts);
        Assert.Null(delivery.LastError);
        Assert.Null(delivery.NextAttemptAt);
        await app.AssertAllAsync();
    }

    [Theory]
    [InlineData(400, 131026, "invalid_recipient")]
    [InlineData(400, 131009, "rejected")]
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
        app.WhatsApp.FailNextUploads(400, 131009);

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

        await app.DeliverAsync(ticket.QueueMessage);
        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("queued", delivery.Status);
        Assert.NotNull(delivery.NextAttemptAt);
        Assert.Equal(1, metrics.Count("eventregistration.tickets.sends", "result", "transient_failure"));

        await app.AdvanceToNextAttemptAsync(ticket.RegistrationId);
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        Assert.Equal(1, metrics.Count("eventregistration.tickets.sends", "result", "sent"));
    }

    [Fact]
    public async Task A_copy_arriving_while_another_worker_holds_the_lease_ends_quietly_and_the_reconciliation_covers_a_dead_holder()
    {
        using var metrics = new TicketMetricsRecorder(app);
        var logs = new LogCollector(app);
        var ticket = await app.PaidTicketAsync();
        var container = new BlobContainerClient(TestApp.AzuriteConnectionString, "ticket-locks");
        await container.CreateIfNotExistsAsync();
        var blob = container.GetBlobClient(ticket.RegistrationId.ToString());
        await blob.UploadAsync(BinaryData.Empty, overwrite: true);
        var lease = blob.GetBlobLeaseClient();
        await lease.AcquireAsync(TimeSpan.FromSeconds(15));
        try
        {
            // The holder owns the delivery: this copy completes (no dequeue count burnt, no error).
            await app.DeliverAsync(ticket.QueueMessage);

            Assert.Empty(app.WhatsApp.SendAttemptsTo(ticket.Phone));
            Assert.Empty(app.WhatsApp.UploadsFor(ticket.RegistrationId));
            var delivery = await app.DeliveryAsync(ticket.RegistrationId);
            Assert.Equal("queued", delivery.Status);
            Assert.Equal(0, delivery.Attempts);
            Assert.Equal(1, metrics.Count("eventregistration.tickets.skipped", "reason", "lease_taken"));
            Assert.DoesNotContain(logs.Entries, e => e.Level >= LogLevel.Error);
        }
        finally
        {
            await lease.ReleaseAsync();
        }

        // The holder died without finishing: the reconciliation's deliveries step brings the ticket back.
        await app.ClearTicketQueueAsync();
        app.Clock.Advance(TimeSpan.FromMinutes(16));
        var run = await app.ReconcileAsync();
        Assert.Contains(ticket.RegistrationId, await app.QueuedTicketsAsync());
        Assert.True(run.Count("deliveries", "unsent") >= 1, run.ToString());
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
        var startedAt = app.Clock.GetUtcNow().UtcDateTime;
        await app.ExecuteAsync("""
            update ticket_deliveries set status = 'sending', attempts = 1, last_attempt_at = @Now where registration_id = @RegistrationId
            """, new { Now = startedAt, ticket.RegistrationId });
        var queued = await app.MessagesOnQueueAsync();

        // The first copy to see it schedules the resend (one delayed message); later early copies only end.
        await app.DeliverAsync(ticket.QueueMessage);
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Empty(app.WhatsApp.SendAttemptsTo(ticket.Phone));
        var early = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("sending", early.Status);
        Assert.Equal(startedAt.AddSeconds(60), early.NextAttemptAt!.Value, TimeSpan.FromMilliseconds(1));
        Assert.Equal(queued + 1, await app.MessagesOnQueueAsync());

        app.Clock.Advance(TimeSpan.FromSeconds(61));
        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("sent", delivery.Status);
        Assert.Equal(2, delivery.Attempts);
        Assert.Contains(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_resent_after_unknown_outcome");
    }

    [Fact]
    public async Task A_poisoned_message_of_an_open_delivery_leaves_it_open_for_the_reconciliation_and_tells_an_operator()
    {
        var ticket = await app.PaidTicketAsync();

        // The host gives up on a message whose invocations kept throwing (database down for minutes, a defect).
        var poisonQueue = app.Services.GetRequiredService<TicketQueue>().PoisonClient;
        await poisonQueue.CreateIfNotExistsAsync();
        await poisonQueue.SendMessageAsync(ticket.QueueMessage);
        var poisoned = (await poisonQueue.ReceiveMessageAsync()).Value;
        await app.Function<RecordPoisonedTicketFunction>().RecordPoisonedTicket(poisoned.MessageText, CancellationToken.None);
        await poisonQueue.DeleteMessageAsync(poisoned.MessageId, poisoned.PopReceipt);

        // Nothing says the ticket can never go out: it is not failed.
        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("queued", delivery.Status);
        Assert.Equal(0, delivery.Attempts);
        Assert.Contains(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_poisoned" && a.Detail.Contains("reconciliation re-enqueues it"));

        await app.ClearTicketQueueAsync();
        app.Clock.Advance(TimeSpan.FromMinutes(16));
        await app.ReconcileAsync();
        Assert.Contains(ticket.RegistrationId, await app.QueuedTicketsAsync());
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        Assert.Equal("sent", (await app.DeliveryAsync(ticket.RegistrationId)).Status);
        await app.AssertAllAsync();
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
        Assert.Equal("withheld", delivery.Status);
        Assert.Contains("refunded", delivery.LastError);
        Assert.Empty(app.WhatsApp.SendAttemptsTo(ticket.Phone));
    }
}
