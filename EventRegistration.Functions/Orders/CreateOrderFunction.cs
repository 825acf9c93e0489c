using EventRegistration.Functions.Infrastructure.Configuration;
using System.Diagnostics;
using EventRegistration.Functions.Infrastructure.Http;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Orders;

/// <summary>
/// POST /api/events/{eventId}/orders with <c>{"memberId": "…"}</c>. Called by the organisation's
/// own site (function key) for a signed-in member; answers what the browser needs for Checkout.
/// </summary>
public sealed class CreateOrderFunction(CreateOrderHandler handler, IOptions<RazorpayOptions> razorpay, ILogger<CreateOrderFunction> logger)
{
    [Function(nameof(CreateOrder))]
    public async Task<IActionResult> CreateOrder(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "events/{eventId}/orders")] HttpRequest request,
        string eventId)
    {
        var cancellationToken = request.HttpContext.RequestAborted;
        if (!Guid.TryParse(eventId, out var eventGuid))
        {
            return Problems.RouteIdNotUuid("eventId");
        }

        var (json, problem) = await JsonRequest.ReadAsync(request, razorpay.Value.MaxBodyBytes, cancellationToken);
        if (json is null)
        {
            return problem!;
        }

        using var parsed = json;

        var memberText = json.RequiredString("memberId", out problem);
        if (memberText is null)
        {
            return problem!;
        }

        if (!Guid.TryParse(memberText, out var memberId))
        {
            return Problems.InvalidField("memberId", "'memberId' must be a UUID.");
        }

        using var scope = logger.BeginPaymentScope(eventId: eventGuid);
        return await HttpFailures.GuardAsync(logger, nameof(CreateOrder),
            async () => ToHttp(await handler.HandleAsync(eventGuid, memberId, cancellationToken)));
    }

    /// <summary>Every outcome of an order request and its answer, in one place.</summary>
    private static ApiResult ToHttp(CreateOrderOutcome outcome) => outcome switch
    {
        CreateOrderOutcome.Created created => ApiResult.Created(created.Order),
        CreateOrderOutcome.Reused reused => ApiResult.Ok(reused.Order),
        CreateOrderOutcome.EventNotFound => Problems.EventNotFound(),
        CreateOrderOutcome.EventNotOpen notOpen => Problems.EventNotOpen(notOpen.Status),
        CreateOrderOutcome.MemberNotFound => Problems.MemberNotFound(),
        CreateOrderOutcome.AlreadyRegistered registered => Problems.AlreadyRegistered(registered.RegistrationId, registered.Status),
        CreateOrderOutcome.EventFull => Problems.EventFull(),
        _ => throw new UnreachableException($"CreateOrder has no answer for {outcome.GetType().Name}."),
    };
}
