using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Admin.WebConsole;

/// <summary>The ways in the console offers: always an admin key; App Service Authentication's pages only where the app trusts it.</summary>
public sealed record ConsoleSignIn(bool AdminKey, MicrosoftSignIn? Microsoft);

public sealed record MicrosoftSignIn(string Login, string Logout);

/// <summary>Who the console is talking to, and how they came in ("key" or "appServiceAuthentication").</summary>
public sealed record ConsoleSession(string Actor, string Role, string SignedInWith, ConsoleSignIn SignIn);

/// <summary>
/// GET /api/admin/session: what the console needs before it draws anything — who is signed in and
/// with which role (so it shows an organiser no operator-only link), and which ways in to offer.
/// The decision stays <see cref="AdminAccess"/>'s: 200 for a caller with an admin role, its 401 or
/// 403 problem otherwise; every answer carries <c>signIn</c>, so the sign-in page (after a 401) and a
/// person signed in without a role (403) get the links too. The links are App Service
/// Authentication's own pages, offered only when <see cref="AdminOptions.TrustAppServiceAuthentication"/>
/// says it is in front; they say nothing a visitor could not learn by opening them.
/// </summary>
public sealed class ConsoleSessionFunction(AdminAccess access, IOptions<AdminOptions> options)
{
    public const string MicrosoftLogin = "/.auth/login/aad?post_login_redirect_uri=/api/console/";
    public const string MicrosoftLogout = "/.auth/logout?post_logout_redirect_uri=/api/console/";

    private readonly ConsoleSignIn _signIn = new(true,
        options.Value.TrustAppServiceAuthentication ? new MicrosoftSignIn(MicrosoftLogin, MicrosoftLogout) : null);

    [Function(nameof(AdminSession))]
    public IActionResult AdminSession(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "admin/session")] HttpRequest request)
    {
        ApiResult answer;
        if (AdminHttp.Refusal(access, request, AdminRole.Organiser, out var actor) is { } refusal)
        {
            var problem = (ProblemDocument)refusal.Body;
            answer = new ApiResult(refusal.StatusCode, problem with { Extensions = new() { ["signIn"] = _signIn } }, refusal.ContentType);
        }
        else
        {
            // A presented key decides alone (AdminAccess), so its header says how this caller came in.
            var with = request.Headers.ContainsKey(AdminAccess.KeyHeader) ? "key" : "appServiceAuthentication";
            answer = ApiResult.Ok(new ConsoleSession(actor.Name, AdminRoles.Name(actor.Role), with, _signIn));
        }

        answer.Headers["Cache-Control"] = "no-store";
        return answer;
    }
}
