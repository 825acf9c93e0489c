using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Tickets;

/// <summary>
/// Holds the ticket signing key from <c>Tickets:SigningKeyPem</c>, and during a key rotation the
/// previous key's public half (<c>Tickets:PreviousPublicKeyPem</c>), so that tickets already sent
/// keep verifying until that setting is emptied.
/// </summary>
public sealed class TicketSigner : IDisposable
{
    private readonly ECDsa _key;
    private readonly ECDsa? _previous;

    public TicketSigner(IOptions<TicketOptions> options)
    {
        _key = Load(options.Value.SigningKeyPem)
            ?? throw new InvalidOperationException("Tickets:SigningKeyPem is not an ECDSA P-256 private key in PEM.");
        PublicKeyPem = _key.ExportSubjectPublicKeyInfoPem();
        if (options.Value.PreviousPublicKeyPem.Length > 0)
        {
            _previous = LoadPublic(options.Value.PreviousPublicKeyPem)
                ?? throw new InvalidOperationException("Tickets:PreviousPublicKeyPem is not an ECDSA P-256 public key in PEM.");
            PreviousPublicKeyPem = _previous.ExportSubjectPublicKeyInfoPem();
        }
    }

    /// <summary>What a door scanner needs to verify tickets offline (SubjectPublicKeyInfo PEM).</summary>
    public string PublicKeyPem { get; }

    /// <summary>The previous signing key's public half while a rotation is under way; null otherwise.</summary>
    public string? PreviousPublicKeyPem { get; }

    public string CreateToken(Guid registrationId, Guid eventId) => TicketToken.Create(registrationId, eventId, _key);

    /// <summary>The claims of a token the current or the listed previous key signed; null for anything else (no I/O).</summary>
    public TicketClaims? Verify(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return null;
        }

        return TicketToken.Verify(token, _key) ?? (_previous is null ? null : TicketToken.Verify(token, _previous));
    }

    /// <summary>Null unless the text is a P-256 private key. Accepts "\n" escapes, as some settings stores keep one line.</summary>
    public static ECDsa? Load(string? pem)
    {
        var key = Import(pem);
        if (key is null)
        {
            return null;
        }

        try
        {
            if (key.ExportParameters(includePrivateParameters: true).D is null)
            {
                key.Dispose();
                return null;
            }

            return key;
        }
        catch (CryptographicException)
        {
            key.Dispose();
            return null;
        }
    }

    /// <summary>Null unless the text is a P-256 public key (a private key is refused: the previous key's secret has no business here).</summary>
    public static ECDsa? LoadPublic(string? pem)
    {
        if (pem is null || pem.Contains("PRIVATE KEY", StringComparison.Ordinal))
        {
            return null;
        }

        return Import(pem);
    }

    private static ECDsa? Import(string? pem)
    {
        if (string.IsNullOrWhiteSpace(pem))
        {
            return null;
        }

        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem.Replace("\\n", "\n", StringComparison.Ordinal));
            if (key.ExportParameters(includePrivateParameters: false).Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
            {
                key.Dispose();
                return null;
            }

            return key;
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            return null;
        }
    }

    public static bool IsValid(string? pem)
    {
        using var key = Load(pem);
        return key is not null;
    }

    public static bool IsPublicKey(string? pem)
    {
        using var key = LoadPublic(pem);
        return key is not null;
    }

    public void Dispose()
    {
        _key.Dispose();
        _previous?.Dispose();
    }
}
