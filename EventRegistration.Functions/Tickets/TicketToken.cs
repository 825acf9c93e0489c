using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;

namespace EventRegistration.Functions.Tickets;

/// <summary>What a verified ticket token says.</summary>
public sealed record TicketClaims(Guid RegistrationId, Guid EventId);

/// <summary>
/// The text inside the QR code: <c>base64url(payload) "." base64url(signature)</c>. The payload is
/// 33 bytes (version 1, registration id, event id, each id as 16 big-endian bytes); the signature
/// is ECDSA P-256 over it with SHA-256, in the fixed 64-byte IEEE P1363 form. A door scanner
/// holding only the public key verifies it offline. The encoding is checked to be canonical, so
/// no other spelling of the same bytes verifies.
/// </summary>
public static class TicketToken
{
    private const byte Version = 1;
    private const int PayloadLength = 33;
    private const int SignatureLength = 64;

    public static string Create(Guid registrationId, Guid eventId, ECDsa privateKey)
    {
        var payload = new byte[PayloadLength];
        payload[0] = Version;
        registrationId.TryWriteBytes(payload.AsSpan(1, 16), bigEndian: true, out _);
        eventId.TryWriteBytes(payload.AsSpan(17, 16), bigEndian: true, out _);
        var signature = privateKey.SignData(payload, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return Base64Url.EncodeToString(payload) + "." + Base64Url.EncodeToString(signature);
    }

    /// <returns>The claims when the token is well formed and signed by the key's owner; otherwise null.</returns>
    public static TicketClaims? Verify(string token, ECDsa publicKey)
    {
        var dot = token.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || dot != token.LastIndexOf('.') || token.Length > 200)
        {
            return null;
        }

        var payload = DecodeCanonical(token.AsSpan(0, dot), PayloadLength);
        var signature = DecodeCanonical(token.AsSpan(dot + 1), SignatureLength);
        if (payload is null || signature is null || payload[0] != Version)
        {
            return null;
        }

        if (!publicKey.VerifyData(payload, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
        {
            return null;
        }

        return new TicketClaims(new Guid(payload.AsSpan(1, 16), bigEndian: true), new Guid(payload.AsSpan(17, 16), bigEndian: true));
    }

    /// <summary>Verifies with a public key in PEM (SubjectPublicKeyInfo), as a scanner would hold it.</summary>
    public static TicketClaims? Verify(string token, string publicKeyPem)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(publicKeyPem);
        return Verify(token, key);
    }

    private static byte[]? DecodeCanonical(ReadOnlySpan<char> text, int expectedLength)
    {
        if (text.Length != Base64Url.GetEncodedLength(expectedLength) || !Base64Url.IsValid(text))
        {
            return null;
        }

        var bytes = new byte[expectedLength];
        if (!Base64Url.TryDecodeFromChars(text, bytes, out var written) || written != expectedLength)
        {
            return null;
        }

        // Base64 ignores the unused low bits of the last character: re-encode so that a token
        // with one character changed there does not pass as the same bytes.
        return text.SequenceEqual(Base64Url.EncodeToString(bytes)) ? bytes : null;
    }
}
