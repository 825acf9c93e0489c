using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Admin;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;
using Microsoft.Extensions.DependencyInjection;

namespace EventRegistration.Tests.Tickets;

/// <summary>
/// A ticket not yet sent when its refund becomes owed (an operator's refund, the event's
/// cancellation) is never sent: the door would refuse it (<c>TicketVerifier</c>), so the member would
/// hold a ticket that does not admit. The delivery ends <c>withheld</c>, which no alarm counts.
/// </summary>
public sealed class WithheldTicketTests(TestApp app) : IClassFixture<TestApp>, IDisposable
{
    public void Dispose() => app.WhatsApp.ClearFailures();

    private async Task AssertWithheldAsync(PaidTicket ticket, string because)
    {
        Assert.Empty(app.WhatsApp.SentTo(ticket.Phone));
        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("withheld", delivery.Status);
        Assert.Contains(because, delivery.LastError);
        Assert.Null(delivery.NextAttemptAt);
        // Withholding is the system doing its job, not a failure for an operator to chase.
        Assert.DoesNotContain(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind is "ticket_failed" or "ticket_poisoned");
    }

    [Fact]
    public async Task A_queued_ticket_whose_refund_an_operator_asked_for_is_withheld_and_never_enqueued_again()
    {
        using var metrics = new TicketMetricsRecorder(app);
        var ticket = await app.PaidTicketAsync();
        Assert.Equal(202, (await app.RefundRegistrationAsync(ticket.RegistrationId)).Status);

        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Empty(app.WhatsApp.SendAttemptsTo(ticket.Phone));
        Assert.Empty(app.WhatsApp.UploadsFor(ticket.RegistrationId));
        await AssertWithheldAsync(ticket, "refund");
        Assert.Equal(1, metrics.Count("eventregistration.tickets.skipped", "reason", "withheld"));
        Assert.Equal(0, metrics.Count("eventregistration.tickets.sends", "result", "permanent_failure"));

        // A copy of the message later, and the reconciliation long after: nothing sent, nothing enqueued.
        await app.DeliverAsync(ticket.QueueMessage);
        await app.ClearTicketQueueAsync();
        app.Clock.Advance(TimeSpan.FromMinutes(20));
        var run = await app.ReconcileAsync();
        Assert.Equal((0, 0), (run.Count("deliveries", "unsent"), run.Count("deliveries", "requeued")));
        Assert.Equal(0, await app.MessagesOnQueueAsync());
        // Nor may an operator send it again: the ticket no longer admits.
        Assert.Equal(409, (await app.ResendTicketAsync(ticket.RegistrationId, "req-withheld")).Status);
        await AssertWithheldAsync(ticket, "refund");
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_ticket_waiting_for_its_retry_when_the_refund_becomes_owed_is_withheld_at_the_retry()
    {
        var ticket = await app.PaidTicketAsync();
        // The media upload fails: nothing was sent, the delivery waits for its retry.
        app.WhatsApp.FailNextUploads(500, 131000);
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Equal("queued", (await app.DeliveryAsync(ticket.RegistrationId)).Status);
        Assert.Empty(app.WhatsApp.SentTo(ticket.Phone));

        Assert.Equal(202, (await app.RefundRegistrationAsync(ticket.RegistrationId)).Status);
        await app.AdvanceToNextAttemptAsync(ticket.RegistrationId);
        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Empty(app.WhatsApp.SendAttemptsTo(ticket.Phone));
        Assert.Single(app.WhatsApp.UploadsFor(ticket.RegistrationId));
        await AssertWithheldAsync(ticket, "refund");
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_queued_ticket_of_an_event_cancelled_meanwhile_is_withheld()
    {
        var ticket = await app.PaidTicketAsync();
        Assert.Equal(200, (await app.CancelEventAsync(ticket.EventId)).Status);

        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Empty(app.WhatsApp.SendAttemptsTo(ticket.Phone));
        await AssertWithheldAsync(ticket, "cancelled");
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_ticket_whose_payment_came_back_in_whole_before_it_was_sent_is_withheld()
    {
        var ticket = await app.PaidTicketAsync();
        Assert.Equal(202, (await app.RefundRegistrationAsync(ticket.RegistrationId)).Status);
        var paymentId = await app.ScalarAsync<string>("select payment_id from event_registrations where id = @id", new { id = ticket.RegistrationId });
        Assert.Equal(200, (await app.RefundProcessedAsync(paymentId)).Status);
        Assert.Equal("refunded", await app.ScalarAsync<string>("select status from event_registrations where id = @id", new { id = ticket.RegistrationId }));

        await app.DeliverAsync(ticket.QueueMessage);

        await AssertWithheldAsync(ticket, "refunded");
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_refund_owed_between_the_senders_read_and_its_attempt_stops_the_attempt()
    {
        var ticket = await app.PaidTicketAsync();
        var deliveries = app.Services.GetRequiredService<TicketDeliveries>();
        // What a sender read under the lease, just before an operator's refund committed.
        var seen = await deliveries.ReadAsync(ticket.RegistrationId, CancellationToken.None);
        Assert.Null(TicketVerifier.RevokedBecause(seen!.RegistrationStatus, seen.EventStatus, seen.RefundStatus));
        Assert.Equal(202, (await app.RefundRegistrationAsync(ticket.RegistrationId)).Status);

        // The attempt it decided on that read is not recorded: the state it judged is gone.
        Assert.Null(await deliveries.MarkSendingAsync(seen, null, app.Clock.GetUtcNow().UtcDateTime, CancellationToken.None));
        Assert.Equal(("queued", 0), ((await app.DeliveryAsync(ticket.RegistrationId)).Status, (await app.DeliveryAsync(ticket.RegistrationId)).Attempts));

        await app.DeliverAsync(ticket.QueueMessage);
        await AssertWithheldAsync(ticket, "refund");
        await app.AssertAllAsync();
    }
}
