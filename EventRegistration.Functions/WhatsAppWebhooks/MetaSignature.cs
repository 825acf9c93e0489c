using System.Security.Cryptography;
using System.Text;

namespace EventRegistration.Functions.WhatsAppWebhooks;

/// <summary>Meta's webhook signature and verify token, compared in constant time.</summary>
public static class MetaSignature
{
    public const string Prefix = "sha256=";

    /// <summary><c>X-Hub-Signature-256: sha256=</c> + lowercase hex HMAC-SHA256 of the raw body, keyed with the app secret.</summary>
    public static bool IsValid(ReadOnlySpan<byte> rawBody, string? header, string appSecret)
    {
        if (header is null || header.Length != Prefix.Length + 64 || !header.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        Span<byte> presented = stackalloc byte[32];
        var hex = header.AsSpan(Prefix.Length);
        foreach (var c in hex)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        Convert.FromHexString(hex, presented, out _, out _);
        Span<byte> expected = stackalloc byte[32];
        HMACSHA256.HashData(Encoding.UTF8.GetBytes(appSecret), rawBody, expected);
        return CryptographicOperations.FixedTimeEquals(expected, presented);
    }

    public static string Compute(ReadOnlySpan<byte> rawBody, string appSecret) =>
        Prefix + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(appSecret), rawBody));

    /// <summary>Compares hashes, so neither the length nor a common prefix of the token leaks through timing.</summary>
    public static bool VerifyTokenMatches(string? presented, string expected) =>
        presented is not null && CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(presented)), SHA256.HashData(Encoding.UTF8.GetBytes(expected)));
}
