using System.Diagnostics;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Admin.Refunds;

/// <summary>
/// POST /api/admin/registrations/{registrationId}/refund {"reason"}: an operator refunds one paid
/// registration through the ledger. 202 while the refund is owed or under way (the first call and
/// every repeat), 200 once the whole amount is back.
/// </summary>
public sealed class RefundRegistrationFunction(
    AdminAccess access, RefundRegistrationHandler handler, IOptions<AdminOptions> options, ILogger<RefundRegistrationFunction> logger)
{
    [Function(nameof(AdminRefundRegistration))]
    public async Task<IActionResult> AdminRefundRegistration(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "admin/registrations/{registrationId}/refund")] HttpRequest request,
        string registrationId)
    {
        var (operation, problem) = await AdminReason.ReadOperatorRequestAsync(access, request, "registrationId", registrationId, options.Value.MaxBodyBytes);
        if (operation is null)
        {
            return problem!;
        }

        return await HttpFailures.GuardAsync(logger, nameof(AdminRefundRegistration),
            async () => ToHttp(await handler.RefundAsync(operation.Actor, operation.Id, operation.Reason, operation.CancellationToken)));
    }

    private static ApiResult ToHttp(RefundOutcome outcome) => outcome switch
    {
        RefundOutcome.Owed owed => new ApiResult(StatusCodes.Status202Accepted, owed.State),
        RefundOutcome.UnderWay underWay => new ApiResult(StatusCodes.Status202Accepted, underWay.State),
        RefundOutcome.Refunded refunded => ApiResult.Ok(refunded.State),
        RefundOutcome.NotRefundable not => Problems.RegistrationNotRefundable(not.Status, not.Why),
        RefundOutcome.NotFound => Problems.RegistrationNotFound("registrationId"),
        _ => throw new UnreachableException($"Refunding a registration has no answer for {outcome.GetType().Name}."),
    };
}
