using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace EventRegistration.Functions.Tickets;

/// <summary>
/// GET /api/tickets/public-key: what a door scanner loads once to verify QR tickets offline.
/// Anonymous because it is a public key; nothing secret can be derived from it.
/// </summary>
public sealed class TicketPublicKeyFunction(TicketSigner signer)
{
    [Function(nameof(TicketPublicKey))]
    public IActionResult TicketPublicKey(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "tickets/public-key")] HttpRequest request) =>
        ApiResult.Ok(new
        {
            Algorithm = "ES256",
            Curve = "P-256",
            TokenFormat = "base64url(payload).base64url(signature); payload = 0x01 || registrationId (16 bytes, big-endian) || eventId (16 bytes, big-endian); signature = ECDSA P-256 SHA-256, IEEE P1363 (r || s)",
            PublicKeyPem = signer.PublicKeyPem,
            PreviousPublicKeyPem = signer.PreviousPublicKeyPem,
        });
}
