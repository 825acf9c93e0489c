using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Http;
using EventRegistration.Functions.Infrastructure.Razorpay;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Confirmation;

public sealed record ConfirmationAnswer(
    Guid RegistrationId, Guid EventId, Guid MemberId, string Status, string? OrderId, string? PaymentId, long Amount, string Currency, DateTime? PaidAt);

/// <summary>
/// Checks the checkout signature against the stored order, answers a settled replay from a
/// lock-free read, and otherwise runs the shared confirmation; identical callbacks in flight
/// together share one answer (<see cref="CheckoutReplays"/>).
/// </summary>
public sealed class ConfirmCheckoutHandler(
    PaymentConfirmation confirmation,
    Database database,
    RegistrationMetrics metrics,
    IOptions<RazorpayOptions> razorpay,
    ILogger<ConfirmCheckoutHandler> logger)
{
    private readonly CheckoutReplays _replays = new(database);

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

        return await _replays.JoinOrRunAsync(orderId, paymentId, () => ConfirmOnceAsync(orderId, paymentId), cancellationToken);
    }

    /// <summary>
    /// Runs without the caller's cancellation: other identical callers may be waiting for this
    /// answer, and the slot wait and lock_timeout bound it.
    /// </summary>
    private async Task<ApiResult> ConfirmOnceAsync(string orderId, string paymentId)
    {
        // After the signature check, so only a genuine triple reaches the database at all.
        if (await _replays.FindSettledAsync(orderId, paymentId, CancellationToken.None) is { } settled)
        {
            metrics.Confirmation(PaymentConfirmation.SourceName(ConfirmationSource.Checkout), settled.Outcome.ToString());
            return ToAnswer(settled);
        }

        // No amount: Razorpay fixes a payment's amount to its order's, and the signature binds the two.
        var report = new PaymentReport(orderId, paymentId, AmountPaise: null, Currency: null, ConfirmationSource.Checkout);
        var result = await confirmation.ConfirmAsync(report, CancellationToken.None);
        return ToAnswer(result);
    }

    public static ApiResult ToAnswer(ConfirmationResult result) => result.Outcome switch
    {
        ConfirmationOutcome.Paid or ConfirmationOutcome.AlreadyPaid or ConfirmationOutcome.RefundDue => ApiResult.Ok(Describe(result.Registration!)),
        ConfirmationOutcome.PaymentUsedElsewhere => Problems.PaymentAlreadyUsed(),
        ConfirmationOutcome.MemberAlreadyPaid => Problems.MemberAlreadyPaid(result.Registration!.Id),
        ConfirmationOutcome.AmountMismatch => Problems.AmountMismatch(result.Registration!.Id),
        ConfirmationOutcome.PaymentRefunded => Problems.PaymentRefunded(result.Registration!.Id),
        ConfirmationOutcome.EventCancelled => Problems.PaymentForCancelledEvent(result.Registration!.Id),
        _ => Problems.OrderNotFound(),
    };

    public static ConfirmationAnswer Describe(RegistrationRow r) =>
        new(r.Id, r.EventId, r.MemberId, r.Status, r.OrderId, r.PaymentId, r.AmountPaise, r.Currency, r.PaidAt);
}
