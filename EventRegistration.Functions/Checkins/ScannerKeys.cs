using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace EventRegistration.Functions.Checkins;

/// <summary>
/// A per-event key a door scanner presents in <see cref="Header"/>. 256 random bits, shown once to
/// the organiser who creates it; the database holds only its SHA-256, so a leaked table admits no
/// one. A hash of a random key this long needs no salt or slow hash, and is looked up by equality.
/// </summary>
public static class ScannerKeys
{
    public const string Header = "X-Scanner-Key";
    private const string Prefix = "sk_";

    public static string Create() => Prefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>How an audit row or a scan names the key without revealing it.</summary>
    public static string Credential(Guid keyId) => "scanner-key:" + keyId.ToString("N")[..12];
}
