using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.Http;
using EventRegistration.Functions.Infrastructure.Razorpay;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Confirmation;

/// <summary>
/// POST /api/payments/confirm with the three fields Razorpay Checkout hands the browser.
/// Anonymous: it trusts nothing but the signature, checked against the order id stored on
/// the server; event and member come from that stored order.
/// </summary>
public sealed class ConfirmCheckoutFunction(ConfirmCheckoutHandler handler, IOptions<RazorpayOptions> razorpay, ILogger<ConfirmCheckoutFunction> logger)
{
    [Function(nameof(ConfirmCheckout))]
    public async Task<IActionResult> ConfirmCheckout(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "payments/confirm")] HttpRequest request)
    {
        var cancellationToken = request.HttpContext.RequestAborted;
        var (json, problem) = await JsonRequest.ReadAsync(request, razorpay.Value.MaxBodyBytes, cancellationToken);
        if (json is null)
        {
            return problem!;
        }

        using var parsed = json;

        var orderId = json.RequiredString("razorpay_order_id", out problem);
        if (orderId is null) return problem!;
        if (!RazorpayIds.IsOrderId(orderId))
            return Problems.InvalidField("razorpay_order_id", "'razorpay_order_id' must look like order_… (letters and digits).");

        var paymentId = json.RequiredString("razorpay_payment_id", out problem);
        if (paymentId is null) return problem!;
        if (!RazorpayIds.IsPaymentId(paymentId))
            return Problems.InvalidField("razorpay_payment_id", "'razorpay_payment_id' must look like pay_… (letters and digits).");

        var signature = json.RequiredString("razorpay_signature", out problem);
        if (signature is null) return problem!;
        if (!RazorpayIds.IsHexSignature(signature))
            return Problems.InvalidField("razorpay_signature", "'razorpay_signature' must be 64 hexadecimal characters.");

        return await HttpFailures.GuardAsync(logger, nameof(ConfirmCheckout),
            () => handler.HandleAsync(orderId, paymentId, signature, cancellationToken));
    }
}
