using System.Diagnostics;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Admin.Cancellation;

/// <summary>
/// POST /api/admin/events/{eventId}/cancel {"reason"}: cancels the event and refunds every paid
/// registration through the ledger. Operators only (it moves money). Calling it again answers the
/// same way and changes nothing.
/// </summary>
public sealed class CancelEventFunction(
    AdminAccess access, CancelEventHandler handler, IOptions<AdminOptions> options, ILogger<CancelEventFunction> logger)
{
    [Function(nameof(AdminCancelEvent))]
    public async Task<IActionResult> AdminCancelEvent(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "admin/events/{eventId}/cancel")] HttpRequest request,
        string eventId)
    {
        if (AdminHttp.Refusal(access, request, AdminRole.Operator, out var actor) is { } refusal)
        {
            return refusal;
        }

        if (!Guid.TryParse(eventId, out var id))
        {
            return Problems.RouteIdNotUuid("eventId");
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        var (reason, problem) = await AdminReason.ReadAsync(request, options.Value.MaxBodyBytes, cancellationToken);
        if (reason is null)
        {
            return problem!;
        }

        return await HttpFailures.GuardAsync(logger, nameof(AdminCancelEvent),
            async () => ToHttp(await handler.CancelAsync(actor, id, reason, cancellationToken)));
    }

    private static ApiResult ToHttp(CancelEventOutcome outcome) => outcome switch
    {
        CancelEventOutcome.Cancelled cancelled => ApiResult.Ok(cancelled.Event),
        CancelEventOutcome.NotFound => Problems.EventNotFound(),
        _ => throw new UnreachableException($"Cancelling an event has no answer for {outcome.GetType().Name}."),
    };
}
