using System.Text;
using System.Text.Json.Nodes;
using EventRegistration.Functions.Confirmation;
using EventRegistration.Functions.Orders;
using EventRegistration.Functions.Webhooks;

namespace EventRegistration.Tests.Infrastructure;

/// <summary>The three HTTP functions, called as the host calls them, with raw bodies and headers.</summary>
public static class Api
{
    public static async Task<HttpAnswer> CreateOrderAsync(this TestApp app, Guid eventId, Guid memberId) =>
        await app.CreateOrderRawAsync(eventId.ToString(), $$"""{"memberId":"{{memberId}}"}""");

    public static async Task<HttpAnswer> CreateOrderRawAsync(this TestApp app, string eventId, string body)
    {
        var request = TestApp.Request(body);
        var result = await app.Function<CreateOrderFunction>().CreateOrder(request, eventId);
        return await TestApp.ExecuteAsync(request, result);
    }

    /// <summary>Creates an order and returns (registration id, order id), asserting it was created.</summary>
    public static async Task<(Guid RegistrationId, string OrderId)> OrderAsync(this TestApp app, Guid eventId, Guid memberId)
    {
        var answer = await app.CreateOrderAsync(eventId, memberId);
        Assert.True(answer.Status is 200 or 201, answer.ToString());
        return (answer.Json.GetProperty("registrationId").GetGuid(), answer.Json.GetProperty("orderId").GetString()!);
    }

    public static Task<HttpAnswer> ConfirmAsync(this TestApp app, string orderId, string paymentId, string? signature = null) =>
        app.ConfirmRawAsync(new JsonObject
        {
            ["razorpay_order_id"] = orderId,
            ["razorpay_payment_id"] = paymentId,
            ["razorpay_signature"] = signature ?? TestApp.CheckoutSignature(orderId, paymentId),
        }.ToJsonString());

    public static async Task<HttpAnswer> ConfirmRawAsync(this TestApp app, string body)
    {
        var request = TestApp.Request(body);
        var result = await app.Function<ConfirmCheckoutFunction>().ConfirmCheckout(request);
        return await TestApp.ExecuteAsync(request, result);
    }

    public static Task<HttpAnswer> WebhookAsync(this TestApp app, string body, string? eventId = null, string? secret = null)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        return app.WebhookRawAsync(bytes, new Dictionary<string, string[]>
        {
            ["X-Razorpay-Signature"] = [TestApp.WebhookSignature(bytes, secret ?? FakeRazorpay.WebhookSecret)],
            ["x-razorpay-event-id"] = [eventId ?? "evt_" + Guid.NewGuid().ToString("N")[..14]],
        });
    }

    public static async Task<HttpAnswer> WebhookRawAsync(this TestApp app, byte[] body, IDictionary<string, string[]> headers)
    {
        var request = TestApp.Request(body, headers);
        var result = await app.Function<RazorpayWebhookFunction>().RazorpayWebhook(request);
        return await TestApp.ExecuteAsync(request, result);
    }
}

/// <summary>Webhook bodies shaped as Razorpay sends them.</summary>
public static class Webhook
{
    /// <summary>Razorpay's payment entity, as webhooks and the payments API carry it (with a field this app does not know).</summary>
    public static JsonObject PaymentEntity(string paymentId, string? orderId, long amount, string status,
        string currency = "INR", bool emptyNotes = true, string? errorCode = null) => new()
    {
        ["id"] = paymentId,
        ["entity"] = "payment",
        ["amount"] = amount,
        ["currency"] = currency,
        ["status"] = status,
        ["order_id"] = orderId,
        ["method"] = "upi",
        ["captured"] = status == "captured",
        ["email"] = "member@example.org",
        ["contact"] = "+919812345678",
        ["notes"] = emptyNotes ? new JsonArray() : new JsonObject { ["registration"] = "r1", ["seat"] = 3 },
        ["error_code"] = errorCode ?? (status == "failed" ? "BAD_REQUEST_ERROR" : null),
        ["error_description"] = errorCode is null && status != "failed" ? null : "Payment failed at the bank",
        ["amount_refunded"] = 0,
        ["created_at"] = 1_764_000_000,
        ["some_future_field"] = new JsonObject { ["nested"] = true },
    };

    public static string Payment(string eventType, string paymentId, string? orderId, long amount, string status,
        string currency = "INR", bool emptyNotes = true, string? errorCode = null)
    {
        var payment = PaymentEntity(paymentId, orderId, amount, status, currency, emptyNotes, errorCode);
        var contains = new JsonArray("payment");
        var payload = new JsonObject { ["payment"] = new JsonObject { ["entity"] = payment } };
        if (eventType == "order.paid")
        {
            contains.Add("order");
            payload["order"] = new JsonObject
            {
                ["entity"] = new JsonObject { ["id"] = orderId, ["entity"] = "order", ["amount"] = amount, ["amount_paid"] = amount, ["status"] = "paid", ["notes"] = new JsonArray() },
            };
        }

        return Envelope(eventType, contains, payload);
    }

    /// <summary>
    /// A refund event: the refund entity (this refund's own amount) and the payment entity with
    /// what has been refunded of it so far, as Razorpay sends them.
    /// </summary>
    /// <param name="paymentAmount">The payment's amount; by default the refund's (a whole refund).</param>
    /// <param name="amountRefunded">The payment's cumulative amount_refunded after this refund; by default the refund's amount.</param>
    public static string Refund(string eventType, string refundId, string paymentId, long amount, string status = "processed",
        long? paymentAmount = null, long? amountRefunded = null, string? orderId = null)
    {
        var total = paymentAmount ?? amount;
        var refunded = amountRefunded ?? (status == "processed" ? amount : 0);
        return Envelope(eventType, new JsonArray("refund", "payment"), new JsonObject
        {
            ["refund"] = new JsonObject
            {
                ["entity"] = new JsonObject
                {
                    ["id"] = refundId, ["entity"] = "refund", ["amount"] = amount, ["currency"] = "INR", ["payment_id"] = paymentId,
                    ["notes"] = new JsonArray(), ["status"] = status, ["speed_processed"] = "normal",
                },
            },
            ["payment"] = new JsonObject
            {
                ["entity"] = new JsonObject
                {
                    ["id"] = paymentId, ["entity"] = "payment", ["amount"] = total, ["currency"] = "INR",
                    ["status"] = refunded >= total ? "refunded" : "captured", ["order_id"] = orderId, ["method"] = "upi",
                    ["amount_refunded"] = refunded,
                    ["refund_status"] = refunded == 0 ? null : refunded >= total ? "full" : "partial",
                    ["notes"] = new JsonArray(), ["created_at"] = 1_764_000_000,
                },
            },
        });
    }

    private static string Envelope(string eventType, JsonArray contains, JsonObject payload) => new JsonObject
    {
        ["entity"] = "event",
        ["account_id"] = "acc_TestAccount01",
        ["event"] = eventType,
        ["contains"] = contains,
        ["payload"] = payload,
        ["created_at"] = 1_764_000_100,
    }.ToJsonString();
}
