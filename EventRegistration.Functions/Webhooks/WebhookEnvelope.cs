using System.Text.Json;
using EventRegistration.Functions.Infrastructure.Http;
using EventRegistration.Functions.Infrastructure.Razorpay;

namespace EventRegistration.Functions.Webhooks;

/// <summary>
/// The parts of a Razorpay webhook this app acts on. Unknown fields are ignored; for the event
/// types it acts on, the entity it needs must be present and well formed.
/// </summary>
public sealed record WebhookEnvelope(string EventType, RazorpayPayment? Payment, RazorpayRefund? Refund)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        AllowDuplicateProperties = false,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict,
    };

    public static WebhookEnvelope? TryParse(byte[] body, out ApiResult? problem)
    {
        using var json = JsonRequest.TryParse(body, out problem);
        if (json is null)
        {
            return null;
        }

        var eventType = json.RequiredString("event", out problem);
        if (eventType is null)
        {
            return null;
        }

        if (!RazorpayIds.IsEventType(eventType))
        {
            problem = Problems.InvalidField("event", "'event' must be up to 100 letters, digits, dots and underscores.");
            return null;
        }

        var needsPayment = eventType is "payment.captured" or "payment.authorized" or "payment.failed" or "order.paid";
        var needsRefund = eventType.StartsWith("refund.", StringComparison.Ordinal);
        RazorpayPayment? payment = null;
        RazorpayRefund? refund = null;
        try
        {
            if (needsPayment && (payment = Entity<RazorpayPayment>(json.Root, "payment", out problem)) is null)
            {
                return null;
            }

            if (needsRefund && (refund = Entity<RazorpayRefund>(json.Root, "refund", out problem)) is null)
            {
                return null;
            }

            // A refund event also carries the payment, with what has been refunded of it so far.
            if (needsRefund && HasEntity(json.Root, "payment"))
            {
                payment = Entity<RazorpayPayment>(json.Root, "payment", out problem);
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // JsonRequest has already refused text that is not Unicode; what remains is an entity
            // whose shape its converters refuse (a converter's reader throws InvalidOperationException).
            problem = Problems.InvalidField(needsRefund ? "payload.refund.entity" : "payload.payment.entity", $"The entity is malformed: {e.Message}");
            return null;
        }

        if (payment is not null && (problem = Validate(payment)) is not null)
        {
            return null;
        }

        if (refund is not null && (problem = Validate(refund)) is not null)
        {
            return null;
        }

        if (refund is not null && payment is not null)
        {
            if (payment.Id != refund.PaymentId)
            {
                problem = Problems.InvalidField("payload.payment.entity.id", "The refund event's payment is not the refunded payment.");
                return null;
            }

            if (payment.AmountRefunded < 0 || payment.RefundStatus is not (null or "partial" or "full"))
            {
                problem = Problems.InvalidField("payload.payment.entity.amount_refunded", "The payment's refunded amount or refund status is malformed.");
                return null;
            }

            refund = refund with { Payment = payment };
        }

        return new WebhookEnvelope(eventType, payment, refund);
    }

    private static bool HasEntity(JsonElement root, string name) =>
        root.TryGetProperty("payload", out var payload) && payload.ValueKind == JsonValueKind.Object
        && payload.TryGetProperty(name, out var wrapper) && wrapper.ValueKind == JsonValueKind.Object
        && wrapper.TryGetProperty("entity", out var entity) && entity.ValueKind == JsonValueKind.Object;

    private static T? Entity<T>(JsonElement root, string name, out ApiResult? problem) where T : class
    {
        var field = $"payload.{name}.entity";
        problem = null;
        if (root.TryGetProperty("payload", out var payload) && payload.ValueKind == JsonValueKind.Object
            && payload.TryGetProperty(name, out var wrapper) && wrapper.ValueKind == JsonValueKind.Object
            && wrapper.TryGetProperty("entity", out var entity) && entity.ValueKind == JsonValueKind.Object)
        {
            return entity.Deserialize<T>(Json);
        }

        problem = Problems.MissingField(field);
        return null;
    }

    private static ApiResult? Validate(RazorpayPayment payment)
    {
        if (!RazorpayIds.IsPaymentId(payment.Id))
            return Problems.InvalidField("payload.payment.entity.id", "The payment id must look like pay_….");
        if (payment.OrderId is not null && !RazorpayIds.IsOrderId(payment.OrderId))
            return Problems.InvalidField("payload.payment.entity.order_id", "The order id must look like order_….");
        if (payment.Amount < 0)
            return Problems.InvalidField("payload.payment.entity.amount", "The amount must not be negative.");
        if (payment.Currency.Length != 3 || !payment.Currency.All(char.IsAsciiLetterUpper))
            return Problems.InvalidField("payload.payment.entity.currency", "The currency must be three capital letters.");
        if (payment.Status.Length is 0 or > 20)
            return Problems.InvalidField("payload.payment.entity.status", "The payment status is missing.");
        return null;
    }

    private static ApiResult? Validate(RazorpayRefund refund)
    {
        if (!RazorpayIds.IsRefundId(refund.Id))
            return Problems.InvalidField("payload.refund.entity.id", "The refund id must look like rfnd_….");
        if (!RazorpayIds.IsPaymentId(refund.PaymentId))
            return Problems.InvalidField("payload.refund.entity.payment_id", "The payment id must look like pay_….");
        if (refund.Amount <= 0)
            return Problems.InvalidField("payload.refund.entity.amount", "The refund amount must be positive.");
        return null;
    }
}
