using EventRegistration.Tests.Checkins;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;

namespace EventRegistration.Tests.Admin;

/// <summary>
/// One paid registration of an event in each refund state its payment can be in, each reached the
/// way production reaches it: an operator's refund (<c>due</c>), the reconciliation asking Razorpay
/// (<c>requested</c>), Razorpay's <c>refund.failed</c> (<c>failed</c>), a part refund from the
/// Dashboard (<c>partial</c>), the whole amount back (<c>processed</c>, the registration <c>refunded</c>).
/// </summary>
public sealed record AttendeeRefundStates(Guid NotRefunded, Guid Due, Guid Requested, Guid Failed, Guid Partial, Guid Processed)
{
    public const long Price = 50_000;
    public const long PartRefunded = 10_000;

    public static async Task<AttendeeRefundStates> ArrangeAsync(TestApp app, Guid eventId)
    {
        var notRefunded = await app.PaidRegistrationAsync(eventId, "Nothing Owed");
        var due = await app.PaidRegistrationAsync(eventId, "Refund Due");
        var requested = await app.PaidRegistrationAsync(eventId, "Refund Requested");
        var failed = await app.PaidRegistrationAsync(eventId, "Refund Failed");
        var partial = await app.PaidRegistrationAsync(eventId, "Part Refunded");
        var processed = await app.PaidRegistrationAsync(eventId, "Refund Processed");

        Assert.Equal(202, (await app.RefundRegistrationAsync(requested)).Status);
        Assert.Equal(202, (await app.RefundRegistrationAsync(failed)).Status);
        app.Razorpay.AcceptEveryRefund();
        await ReconciliationHarness.ReconcileAsync(app);
        var failedPayment = await PaymentOf(app, failed);
        Assert.Equal(200, (await app.WebhookAsync(Webhook.Refund(
            "refund.failed", AdminOperatorCalls.RefundIdOf(failedPayment), failedPayment, Price, status: "failed"))).Status);
        // Asked after the reconciliation ran: still only owed.
        Assert.Equal(202, (await app.RefundRegistrationAsync(due)).Status);
        var partialPayment = await PaymentOf(app, partial);
        Assert.Equal(200, (await app.WebhookAsync(Webhook.Refund("refund.processed", "rfnd_TPart" + partialPayment[^10..], partialPayment,
            PartRefunded, paymentAmount: Price, amountRefunded: PartRefunded))).Status);
        await app.RefundThroughLedgerAsync(processed);

        var states = new AttendeeRefundStates(notRefunded, due, requested, failed, partial, processed);
        var ledger = (await app.QueryAsync<(Guid Id, string? RefundStatus)>("""
            select r.id, p.refund_status from event_registrations r join payments p on p.payment_id = r.payment_id where r.event_id = @eventId
            """, new { eventId })).ToDictionary(p => p.Id, p => p.RefundStatus);
        Assert.Equal([null, "due", "requested", "failed", "partial", "processed"],
            new[] { notRefunded, due, requested, failed, partial, processed }.Select(id => ledger[id]));
        return states;
    }

    private static Task<string> PaymentOf(TestApp app, Guid registrationId) =>
        app.ScalarAsync<string>("select payment_id from event_registrations where id = @registrationId", new { registrationId });
}
