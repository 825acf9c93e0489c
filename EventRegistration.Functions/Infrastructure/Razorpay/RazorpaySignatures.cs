using System.Security.Cryptography;
using System.Text;

namespace EventRegistration.Functions.Infrastructure.Razorpay;

/// <summary>Razorpay's two HMAC-SHA256 signatures, compared in constant time.</summary>
public static class RazorpaySignatures
{
    /// <summary>Checkout: HMAC(order_id + "|" + payment_id) keyed with the API key secret, where order_id is the one stored on the server.</summary>
    public static bool IsValidCheckout(string storedOrderId, string paymentId, string signatureHex, string keySecret) =>
        Matches(Encoding.UTF8.GetBytes(storedOrderId + "|" + paymentId), signatureHex, keySecret);

    /// <summary>Webhook: HMAC of the raw body keyed with a webhook secret; any secret of a rotation may match.</summary>
    public static bool IsValidWebhook(ReadOnlySpan<byte> rawBody, string signatureHex, IEnumerable<string> webhookSecrets)
    {
        var valid = false;
        foreach (var secret in webhookSecrets)
        {
            // No early exit: the time taken does not tell which secret matched.
            valid |= Matches(rawBody, signatureHex, secret);
        }

        return valid;
    }

    public static string Compute(ReadOnlySpan<byte> data, string secret) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), data));

    private static bool Matches(ReadOnlySpan<byte> data, string signatureHex, string secret)
    {
        if (!RazorpayIds.IsHexSignature(signatureHex))
        {
            return false;
        }

        Span<byte> expected = stackalloc byte[32];
        HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), data, expected);
        Span<byte> presented = stackalloc byte[32];
        Convert.FromHexString(signatureHex, presented, out _, out _);
        return CryptographicOperations.FixedTimeEquals(expected, presented);
    }
}
