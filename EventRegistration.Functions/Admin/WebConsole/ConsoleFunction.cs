using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace EventRegistration.Functions.Admin.WebConsole;

/// <summary>
/// GET /api/console/…: the organisers' and operators' web console, as static files embedded in
/// the app. Anonymous: the files hold no data; every call the pages make goes to /api/admin/,
/// where <see cref="Access.AdminAccess"/> decides.
/// </summary>
public sealed class ConsoleFunction(ConsoleAssets assets)
{
    [Function(nameof(AdminConsole))]
    public IActionResult AdminConsole(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "console/{*path}")] HttpRequest request,
        string? path)
    {
        // The pages load their modules by relative URLs: /api/console must become /api/console/.
        if (string.IsNullOrEmpty(path) && !request.Path.Value!.EndsWith('/'))
        {
            return new ConsoleFileResult.Redirect(request.PathBase + request.Path + "/");
        }

        return assets.Find(path) is { } asset ? new ConsoleFileResult.File(asset) : new ConsoleFileResult.NotFound();
    }
}
