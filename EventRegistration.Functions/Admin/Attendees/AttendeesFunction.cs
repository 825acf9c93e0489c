using System.Globalization;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Admin.Attendees;

/// <summary>
/// GET /api/admin/events/{eventId}/attendees?status=&amp;limit=&amp;after=: an event's registrations, paged; with
/// <c>Accept: text/csv</c>, all of them (same status filter) as a spreadsheet download. Organisers; read-only.
/// </summary>
public sealed class AttendeesFunction(AdminAccess access, AttendeesHandler handler, ILogger<AttendeesFunction> logger)
{
    private const int DefaultLimit = 100;
    private const int MaxLimit = 1000;
    private static readonly HashSet<string> Statuses = ["pending", "paid", "refund_due", "refunded", "cancelled"];

    [Function(nameof(AdminListAttendees))]
    public async Task<IActionResult> AdminListAttendees(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "admin/events/{eventId}/attendees")] HttpRequest request,
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

        var query = request.Query;
        string? status = query.TryGetValue("status", out var statusValues) ? statusValues.ToString() : null;
        if (status is not null && !Statuses.Contains(status))
        {
            return Problems.InvalidField("status", "'status' must be one of pending, paid, refund_due, refunded, cancelled.");
        }

        var after = Guid.Empty;
        if (query.TryGetValue("after", out var afterValues) && !Guid.TryParse(afterValues.ToString(), out after))
        {
            return Problems.InvalidField("after", "'after' must be the nextAfter of the previous page (a UUID).");
        }

        var limit = DefaultLimit;
        if (query.TryGetValue("limit", out var limitValues)
            && (!int.TryParse(limitValues.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxLimit))
        {
            return Problems.InvalidField("limit", $"'limit' must be a whole number from 1 to {MaxLimit}.");
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        if (AttendeesCsv.IsWanted(request))
        {
            // The whole event (limit and after are for JSON pages); the first page is read before
            // anything is sent, so an unknown event or an outage still gets its problem answer.
            AttendeePage? first = null;
            var answer = await HttpFailures.GuardAsync(logger, nameof(AdminListAttendees), async () =>
                (first = await handler.ListAsync(id, status, Guid.Empty, AttendeesCsv.PageSize, cancellationToken)) is null
                    ? Problems.EventNotFound()
                    : ApiResult.Ok(first));
            return first is null ? answer : new AttendeesCsv(handler, id, status, first, logger);
        }

        return await HttpFailures.GuardAsync(logger, nameof(AdminListAttendees), async () =>
            await handler.ListAsync(id, status, after, limit, cancellationToken) is { } page ? ApiResult.Ok(page) : Problems.EventNotFound());
    }
}
