using System.Diagnostics;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;

namespace EventRegistration.Functions.Admin.Access;

/// <summary>Turns an access decision into the answer an admin function gives before it reads anything else.</summary>
public static class AdminHttp
{
    /// <returns>The refusal to answer, or null with <paramref name="actor"/> set.</returns>
    public static ApiResult? Refusal(AdminAccess access, HttpRequest request, AdminRole required, out AdminActor actor)
    {
        actor = null!;
        switch (access.Check(request, required))
        {
            case AdminAccessDecision.Allowed allowed:
                actor = allowed.Actor;
                return null;
            case AdminAccessDecision.Unauthenticated unauthenticated:
                return Problems.AdminUnauthenticated(unauthenticated.Reason);
            case AdminAccessDecision.Forbidden forbidden:
                return Problems.AdminForbidden(AdminRoles.Name(forbidden.Required));
            default:
                throw new UnreachableException();
        }
    }
}
