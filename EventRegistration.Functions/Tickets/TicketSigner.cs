using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Tickets;

/// <summary>Holds the ticket signing key from <c>Tickets:SigningKeyPem</c> and publishes its public half.</summary>
public sealed class TicketSigner : IDisposable
{
    private readonly ECDsa _key;

    public TicketSigner(IOptions<TicketOptions> options)
    {
        _key = Load(options.Value.SigningKeyPem)
            ?? throw new InvalidOperationException("Tickets:SigningKeyPem is not an ECDSA P-256 private key in PEM.");
        PublicKeyPem = _key.ExportSubjectPublicKeyInfoPem();
    }

    /// <summary>What a door scanner needs to verify tickets offline (SubjectPublicKeyInfo PEM).</summary>
    public string PublicKeyPem { get; }

    public string CreateToken(Guid registrationId, Guid eventId) => TicketToken.Create(registrationId, eventId, _key);

    /// <summary>The claims of a token this key signed; null for anything else (no I/O).</summary>
    public TicketClaims? Verify(string? token) => string.IsNullOrEmpty(token) ? null : TicketToken.Verify(token, _key);

    /// <summary>Null unless the text is a P-256 private key. Accepts "\n" escapes, as some settings stores keep one line.</summary>
    public static ECDsa? Load(string? pem)
    {
        if (string.IsNullOrWhiteSpace(pem))
        {
            return null;
        }

        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem.Replace("\\n", "\n", StringComparison.Ordinal));
            var parameters = key.ExportParameters(includePrivateParameters: true);
            if (parameters.D is null || parameters.Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
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

    public void Dispose() => _key.Dispose();
}
