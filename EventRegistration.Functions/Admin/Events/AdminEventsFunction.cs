using System.Diagnostics;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Admin.Events;

/// <summary>
/// /api/admin/events: create (POST), change (PUT …/{eventId}), list (GET) and read one (GET …/{eventId}) event, for organisers.
/// Anonymous at the host: <see cref="AdminAccess"/> decides who may call, in one place.
/// </summary>
public sealed class AdminEventsFunction(
    AdminAccess access, AdminEventsHandler handler, IOptions<AdminOptions> options, ILogger<AdminEventsFunction> logger)
{
    [Function(nameof(AdminCreateEvent))]
    public async Task<IActionResult> AdminCreateEvent(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "admin/events")] HttpRequest request)
    {
        if (AdminHttp.Refusal(access, request, AdminRole.Organiser, out var actor) is { } refusal)
        {
            return refusal;
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        var (input, problem) = await ReadAsync(request, cancellationToken);
        if (input is null)
        {
            return problem!;
        }

        return await HttpFailures.GuardAsync(logger, nameof(AdminCreateEvent),
            async () => ToHttp(await handler.CreateAsync(actor, input, cancellationToken)));
    }

    [Function(nameof(AdminUpdateEvent))]
    public async Task<IActionResult> AdminUpdateEvent(
        [HttpTrigger(AuthorizationLevel.Anonymous, "put", Route = "admin/events/{eventId}")] HttpRequest request,
        string eventId)
    {
        if (AdminHttp.Refusal(access, request, AdminRole.Organiser, out var actor) is { } refusal)
        {
            return refusal;
        }

        if (!Guid.TryParse(eventId, out var id))
        {
            return Problems.RouteIdNotUuid("eventId");
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        var (input, problem) = await ReadAsync(request, cancellationToken);
        if (input is null)
        {
            return problem!;
        }

        return await HttpFailures.GuardAsync(logger, nameof(AdminUpdateEvent),
            async () => ToHttp(await handler.UpdateAsync(actor, id, input, cancellationToken)));
    }

    [Function(nameof(AdminListEvents))]
    public async Task<IActionResult> AdminListEvents(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "admin/events")] HttpRequest request)
    {
        if (AdminHttp.Refusal(access, request, AdminRole.Organiser, out _) is { } refusal)
        {
            return refusal;
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        return await HttpFailures.GuardAsync(logger, nameof(AdminListEvents),
            async () => ApiResult.Ok(new { events = await handler.ListAsync(cancellationToken) }));
    }

    [Function(nameof(AdminGetEvent))]
    public async Task<IActionResult> AdminGetEvent(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "admin/events/{eventId}")] HttpRequest request,
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
        return await HttpFailures.GuardAsync(logger, nameof(AdminGetEvent), async () =>
            await handler.GetAsync(id, cancellationToken) is { } found ? ApiResult.Ok(found) : Problems.EventNotFound());
    }

    private async Task<(EventInput? Input, ApiResult? Problem)> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var (json, problem) = await JsonRequest.ReadAsync(request, options.Value.MaxBodyBytes, cancellationToken);
        if (json is null)
        {
            return (null, problem);
        }

        using var parsed = json;

        var input = EventInputReader.Read(json, out problem);
        return (input, problem);
    }

    /// <summary>Every outcome of an event change and its answer, in one place.</summary>
    private static ApiResult ToHttp(EventChangeOutcome outcome) => outcome switch
    {
        EventChangeOutcome.Created created => ApiResult.Created(created.Event),
        EventChangeOutcome.Updated updated => ApiResult.Ok(updated.Event),
        EventChangeOutcome.NotFound => Problems.EventNotFound(),
        EventChangeOutcome.Cancelled => Problems.EventCancelled(),
        EventChangeOutcome.CapacityBelowTaken taken => Problems.CapacityBelowTaken(taken.Paid, taken.Held),
        _ => throw new UnreachableException($"Admin events have no answer for {outcome.GetType().Name}."),
    };
}
