using System.Text.Json.Nodes;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Soak;

/// <summary>
/// Refund events as Razorpay sends them (REFERENCE.md, "Razorpay refunds, in more detail"): the
/// refund entity carries this refund's own amount; the payment entity beside it carries the
/// payment's cumulative <c>amount_refunded</c> and <c>refund_status</c> (<c>partial</c>, then
/// <c>full</c>), and the payment's status turns <c>refunded</c> only once the whole amount is.
/// </summary>
public static class RefundWebhooks
{
    public static string Processed(string refundId, string paymentId, string orderId, long paymentAmount, long refundAmount, long amountRefundedSoFar) =>
        Refund("refund.processed", refundId, paymentId, orderId, paymentAmount, refundAmount, amountRefundedSoFar, "processed");

    public static string Refund(string eventType, string refundId, string paymentId, string orderId,
        long paymentAmount, long refundAmount, long amountRefundedSoFar, string refundState)
    {
        var whole = amountRefundedSoFar >= paymentAmount;
        var payment = Webhook.PaymentEntity(paymentId, orderId, paymentAmount, whole ? "refunded" : "captured");
        payment["captured"] = true;
        payment["amount_refunded"] = amountRefundedSoFar;
        payment["refund_status"] = amountRefundedSoFar == 0 ? null : whole ? "full" : "partial";

        var refund = new JsonObject
        {
            ["id"] = refundId,
            ["entity"] = "refund",
            ["amount"] = refundAmount,
            ["currency"] = "INR",
            ["payment_id"] = paymentId,
            ["notes"] = new JsonArray(),
            ["receipt"] = null,
            ["acquirer_data"] = new JsonObject { ["arn"] = null },
            ["created_at"] = 1_764_000_200,
            ["batch_id"] = null,
            ["status"] = refundState,
            ["speed_processed"] = "normal",
            ["speed_requested"] = "normal",
        };

        return new JsonObject
        {
            ["entity"] = "event",
            ["account_id"] = "acc_TestAccount01",
            ["event"] = eventType,
            ["contains"] = new JsonArray("refund", "payment"),
            ["payload"] = new JsonObject
            {
                ["refund"] = new JsonObject { ["entity"] = refund },
                ["payment"] = new JsonObject { ["entity"] = payment },
            },
            ["created_at"] = 1_764_000_300,
        }.ToJsonString();
    }
}
