using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Confirmation;

/// <summary>
/// Refund events racing captures, checkouts and each other, delivered more than once and in any
/// order. Whatever the interleaving, a payment that came back in whole holds no seat, and the
/// refunds of a payment never add up to more than it.
/// </summary>
public sealed class RefundConcurrencyTests(TestApp app) : IClassFixture<TestApp>
{
    private const long Price = 50_000;

    [Fact]
    public async Task Two_half_refunds_delivered_three_times_each_in_any_order_refund_every_payment_once()
    {
        var eventId = await app.CreateEventAsync(capacity: 100, pricePaise: Price);
        var payments = new List<string>();
        for (var i = 0; i < 40; i++)
        {
            var (_, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
            var paymentId = TestApp.NewPaymentId();
            Assert.Equal(200, (await app.ConfirmAsync(orderId, paymentId)).Status);
            payments.Add(paymentId);
        }

        var random = new Random(20261125);
        var deliveries = payments.SelectMany((paymentId, i) =>
        {
            // The running total Razorpay sends depends on which half it processed first; either order is real.
            var first = Webhook.Refund("refund.processed", $"rfnd_TA{i:D6}x", paymentId, Price / 2, paymentAmount: Price, amountRefunded: Price / 2);
            var second = Webhook.Refund("refund.processed", $"rfnd_TB{i:D6}x", paymentId, Price / 2, paymentAmount: Price, amountRefunded: Price);
            return Enumerable.Range(0, 3).SelectMany(copy => new[] { (first, $"evt_A{i:D6}c{copy}"), (second, $"evt_B{i:D6}c{copy}") });
        }).OrderBy(_ => random.Next()).ToList();

        var answers = await Task.WhenAll(deliveries.Select(d => Task.Run(() => app.WebhookAsync(d.Item1, d.Item2))));

        Assert.All(answers, a => Assert.Equal(200, a.Status));
        Assert.Equal(0, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(40, await app.ScalarAsync<long>("select count(*) from event_registrations where event_id = @eventId and status = 'refunded'", new { eventId }));
        Assert.Equal(80, await app.ScalarAsync<long>("select count(*) from refunds where payment_id = any(@payments)", new { payments }));
        Assert.Equal(40, await app.ScalarAsync<long>(
            "select count(*) from payments where payment_id = any(@payments) and refund_status = 'processed' and amount_refunded_paise = amount_paise", new { payments }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_whole_refund_racing_the_capture_and_the_checkout_never_leaves_a_paid_seat()
    {
        var eventId = await app.CreateEventAsync(capacity: 100, pricePaise: Price);
        var journeys = new List<(string OrderId, string PaymentId)>();
        for (var i = 0; i < 40; i++)
        {
            var (_, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
            journeys.Add((orderId, TestApp.NewPaymentId()));
        }

        var random = new Random(1125);
        var calls = journeys.SelectMany((j, i) => new Func<Task<HttpAnswer>>[]
        {
            () => app.WebhookAsync(Webhook.Refund("refund.processed", $"rfnd_TW{i:D6}x", j.PaymentId, Price, orderId: j.OrderId)),
            () => app.WebhookAsync(Webhook.Payment("payment.captured", j.PaymentId, j.OrderId, Price, "captured")),
            () => app.ConfirmAsync(j.OrderId, j.PaymentId),
            () => app.WebhookAsync(Webhook.Refund("refund.processed", $"rfnd_TW{i:D6}x", j.PaymentId, Price, orderId: j.OrderId)),
        }).OrderBy(_ => random.Next()).ToList();

        var answers = await Task.WhenAll(calls.Select(call => Task.Run(call)));

        Assert.All(answers, a => Assert.True(a.Status is 200 or 409, a.ToString()));
        Assert.Equal(0, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from event_registrations where event_id = @eventId and status = 'paid'", new { eventId }));
        var paymentIds = journeys.Select(j => j.PaymentId).ToArray();
        Assert.Equal(40, await app.ScalarAsync<long>(
            "select count(*) from payments where payment_id = any(@paymentIds) and refund_status = 'processed' and amount_refunded_paise = @Price",
            new { paymentIds, Price }));
        await app.AssertAllAsync();
    }
}
