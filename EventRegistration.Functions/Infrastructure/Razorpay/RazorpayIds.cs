using System.Text.RegularExpressions;

namespace EventRegistration.Functions.Infrastructure.Razorpay;

/// <summary>The shapes of Razorpay's identifiers; anything else is refused before it reaches the database.</summary>
public static partial class RazorpayIds
{
    public static bool IsOrderId(string? value) => value is not null && OrderId().IsMatch(value);
    public static bool IsPaymentId(string? value) => value is not null && PaymentId().IsMatch(value);
    public static bool IsRefundId(string? value) => value is not null && RefundId().IsMatch(value);
    public static bool IsEventId(string? value) => value is not null && EventId().IsMatch(value);
    public static bool IsHexSignature(string? value) => value is not null && HexSignature().IsMatch(value);

    [GeneratedRegex("^order_[A-Za-z0-9]{1,40}$")]
    private static partial Regex OrderId();

    [GeneratedRegex("^pay_[A-Za-z0-9]{1,40}$")]
    private static partial Regex PaymentId();

    [GeneratedRegex("^rfnd_[A-Za-z0-9]{1,40}$")]
    private static partial Regex RefundId();

    [GeneratedRegex("^[A-Za-z0-9_.:-]{1,100}$")]
    private static partial Regex EventId();

    [GeneratedRegex("^[0-9a-fA-F]{64}$")]
    private static partial Regex HexSignature();
}
