using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace EventRegistration.Functions.Health;

/// <summary>
/// GET /api/health: 200 when the database, storage and schema serve payments (reconciliation
/// lagging answers 200 "degraded"), 503 otherwise. Anonymous so an availability test or a load
/// balancer can call it without holding a function key; it is safe to be public because it
/// returns statuses and one timestamp, never a setting, host name or error text.
/// </summary>
public sealed class HealthFunction(HealthCheck check)
{
    [Function(nameof(Health))]
    public async Task<IActionResult> Health(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "health")] HttpRequest request)
    {
        var report = await check.RunAsync(request.HttpContext.RequestAborted);
        var result = new ApiResult(report.IsUp ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable, report);
        result.Headers["Cache-Control"] = "no-store";
        return result;
    }
}
