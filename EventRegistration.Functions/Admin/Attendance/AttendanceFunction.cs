using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Admin.Attendance;

/// <summary>GET /api/admin/events/{eventId}/attendance: admitted against paid, by hour, for organisers.</summary>
public sealed class AttendanceFunction(AdminAccess access, AttendanceHandler handler, ILogger<AttendanceFunction> logger)
{
    [Function(nameof(AdminEventAttendance))]
    public async Task<IActionResult> AdminEventAttendance(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "admin/events/{eventId}/attendance")] HttpRequest request,
        string eventId)
    {
        if (AdminHttp.Refusal(access, request, AdminRole.Organiser, out _) is { } refusal)
        {
            return refusal;
        }

        if (!Guid.TryParse(eventId, out var id))
        {
            return Problems.RouteIdNotUuid("eventId");
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        return await HttpFailures.GuardAsync(logger, nameof(AdminEventAttendance), async () =>
            await handler.ReadAsync(id, cancellationToken) is { } attendance ? ApiResult.Ok(attendance) : Problems.EventNotFound());
    }
}
