using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.Http;
using EventRegistration.Functions.Infrastructure.Razorpay;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Confirmation;

public sealed record ConfirmationAnswer(
    Guid RegistrationId, Guid EventId, Guid MemberId, string Status, string? OrderId, string? PaymentId, long Amount, string Currency, DateTime? PaidAt);

/// <summary>Checks the checkout signature against the stored order, then runs the shared confirmation.</summary>
public sealed class ConfirmCheckoutHandler(
    PaymentConfirmation confirmation,
    IOptions<RazorpayOptions> razorpay,
    ILogger<ConfirmCheckoutHandler> logger)
{
    public async Task<ApiResult> HandleAsync(string orderId, string paymentId, string signature, CancellationToken cancellationToken)
    {
        // The confirmation finds the registration by this order id, so the order id the
        // signature is checked against is the one stored on the server. Checking first keeps
        // forged requests away from the database altogether.
        if (!RazorpaySignatures.IsValidCheckout(orderId, paymentId, signature, razorpay.Value.KeySecret))
        {
            logger.LogWarning("Checkout signature mismatch for order {OrderId}", orderId);
            return Problems.SignatureInvalid("razorpay_signature");
        }

        // No amount: Razorpay fixes a payment's amount to its order's, and the signature binds the two.
        var report = new PaymentReport(orderId, paymentId, AmountPaise: null, Currency: null, ConfirmationSource.Checkout);
        var result = await confirmation.ConfirmAsync(report, cancellationToken);
        return ToAnswer(result);
    }

    public static ApiResult ToAnswer(ConfirmationResult result) => result.Outcome switch
    {
        ConfirmationOutcome.Paid or ConfirmationOutcome.AlreadyPaid or ConfirmationOutcome.RefundDue => ApiResult.Ok(Describe(result.Registration!)),
        ConfirmationOutcome.PaymentUsedElsewhere => Problems.PaymentAlreadyUsed(),
        ConfirmationOutcome.MemberAlreadyPaid => Problems.MemberAlreadyPaid(result.Registration!.Id),
        ConfirmationOutcome.AmountMismatch => Problems.AmountMismatch(result.Registration!.Id),
        ConfirmationOutcome.PaymentRefunded => Problems.PaymentRefunded(result.Registration!.Id),
        _ => Problems.OrderNotFound(),
    };

    public static ConfirmationAnswer Describe(RegistrationRow r) =>
        new(r.Id, r.EventId, r.MemberId, r.Status, r.OrderId, r.PaymentId, r.AmountPaise, r.Currency, r.PaidAt);
}
