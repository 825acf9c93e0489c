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
        var (operation, problem) = await AdminReason.ReadOperatorRequestAsync(access, request, "eventId", eventId, options.Value.MaxBodyBytes);
        if (operation is null)
        {
            return problem!;
        }

        return await HttpFailures.GuardAsync(logger, nameof(AdminCancelEvent),
            async () => ToHttp(await handler.CancelAsync(operation.Actor, operation.Id, operation.Reason, operation.CancellationToken)));
    }

    private static ApiResult ToHttp(CancelEventOutcome outcome) => outcome switch
    {
        CancelEventOutcome.Cancelled cancelled => ApiResult.Ok(cancelled.Event),
        CancelEventOutcome.NotFound => Problems.EventNotFound(),
        _ => throw new UnreachableException($"Cancelling an event has no answer for {outcome.GetType().Name}."),
    };
}
