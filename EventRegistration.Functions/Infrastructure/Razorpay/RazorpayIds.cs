using System.Text.RegularExpressions;

namespace EventRegistration.Functions.Infrastructure.Razorpay;

/// <summary>
/// The shapes of Razorpay's identifiers; anything else is refused before it reaches the database.
/// Each pattern ends in <c>\z</c>, not <c>$</c>: in .NET <c>$</c> also matches before a final
/// newline, which the database's CHECK constraints (PostgreSQL's <c>$</c>) refuse. Every pattern is
/// at least as strict as the column it guards; IdentifierAgreementTests holds the two together.
/// </summary>
public static partial class RazorpayIds
{
    public static bool IsOrderId(string? value) => value is not null && OrderId().IsMatch(value);
    public static bool IsPaymentId(string? value) => value is not null && PaymentId().IsMatch(value);
    public static bool IsRefundId(string? value) => value is not null && RefundId().IsMatch(value);
    public static bool IsEventId(string? value) => value is not null && EventId().IsMatch(value);
    public static bool IsHexSignature(string? value) => value is not null && HexSignature().IsMatch(value);

    /// <summary>A webhook's <c>event</c>, such as <c>payment.captured</c> or <c>virtual_account.credited</c>.</summary>
    public static bool IsEventType(string? value) => value is not null && EventType().IsMatch(value);

    [GeneratedRegex("^order_[A-Za-z0-9]{1,40}\\z")]
    private static partial Regex OrderId();

    [GeneratedRegex("^pay_[A-Za-z0-9]{1,40}\\z")]
    private static partial Regex PaymentId();

    [GeneratedRegex("^rfnd_[A-Za-z0-9]{1,40}\\z")]
    private static partial Regex RefundId();

    [GeneratedRegex("^[A-Za-z0-9_.:-]{1,100}\\z")]
    private static partial Regex EventId();

    [GeneratedRegex("^[0-9a-fA-F]{64}\\z")]
    private static partial Regex HexSignature();

    [GeneratedRegex("^[A-Za-z0-9_.]{1,100}\\z")]
    private static partial Regex EventType();
}
