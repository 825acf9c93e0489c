using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace EventRegistration.Functions.Tickets;

/// <summary>
/// GET /api/tickets/public-key: the PEM a door scanner loads once to verify QR tickets offline.
/// Anonymous because it is a public key; nothing secret can be derived from it.
/// </summary>
public sealed class TicketPublicKeyFunction(TicketSigner signer)
{
    [Function(nameof(TicketPublicKey))]
    public IActionResult TicketPublicKey(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "tickets/public-key")] HttpRequest request) =>
        new ContentResult { Content = signer.PublicKeyPem, ContentType = "application/x-pem-file", StatusCode = StatusCodes.Status200OK };
}
