using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;

namespace EventRegistration.Functions.Checkins;

/// <summary>Who is scanning, as far as can be told without the database.</summary>
public abstract record ScannerCredential
{
    private ScannerCredential()
    {
    }

    /// <summary>A scanner key: its hash is looked up (event, revoked) in the scan's own transaction.</summary>
    public sealed record ScannerKey(byte[] Hash) : ScannerCredential;

    /// <summary>An organiser's admin key or signed-in principal: any event, named in the request.</summary>
    public sealed record Admin(AdminActor Actor) : ScannerCredential;
}

/// <summary>
/// The one place that decides who may scan: a per-event scanner key (<c>X-Scanner-Key</c>), or
/// the admin access of an organiser. Nothing here reads the database, so a request without any
/// credential is refused before the ticket's signature is even looked at.
/// </summary>
public sealed class CheckinAccess(AdminAccess admin)
{
    public ApiResult? Identify(HttpRequest request, out ScannerCredential credential)
    {
        credential = null!;
        if (request.Headers.TryGetValue(ScannerKeys.Header, out var key) && key.ToString().Length > 0)
        {
            credential = new ScannerCredential.ScannerKey(ScannerKeys.Hash(key.ToString()));
            return null;
        }

        switch (admin.Check(request, AdminRole.Organiser))
        {
            case AdminAccessDecision.Allowed allowed:
                credential = new ScannerCredential.Admin(allowed.Actor);
                return null;
            case AdminAccessDecision.Forbidden forbidden:
                return Problems.AdminForbidden(AdminRoles.Name(forbidden.Required));
            default:
                return Problems.ScannerUnauthenticated($"Send the event's scanner key in the '{ScannerKeys.Header}' header (or an organiser's admin key).");
        }
    }
}
