using System.Diagnostics;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Admin.Resends;

/// <summary>
/// POST /api/admin/registrations/{registrationId}/resend {"reason"} with an <c>Idempotency-Key</c>
/// header: sends a sent or failed ticket again. The key is the client's (required, not derived): the
/// same key again is the same request, answered alike and never a second message; a new key is a new
/// request, accepted only once the previous delivery has finished.
/// </summary>
public sealed class ResendTicketFunction(
    AdminAccess access, ResendTicketHandler handler, IOptions<AdminOptions> options, ILogger<ResendTicketFunction> logger)
{
    public const string KeyHeader = "Idempotency-Key";
    public const int MaxKeyLength = 200;

    [Function(nameof(AdminResendTicket))]
    public async Task<IActionResult> AdminResendTicket(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "admin/registrations/{registrationId}/resend")] HttpRequest request,
        string registrationId)
    {
        var (operation, problem) = await AdminReason.ReadOperatorRequestAsync(access, request, "registrationId", registrationId, options.Value.MaxBodyBytes, () => RequestKeyProblem(request));
        if (operation is null)
        {
            return problem!;
        }

        return await HttpFailures.GuardAsync(logger, nameof(AdminResendTicket),
            async () => ToHttp(await handler.ResendAsync(operation.Actor, operation.Id, request.Headers[KeyHeader].ToString(), operation.Reason, operation.CancellationToken)));
    }

    /// <summary>The client's own key for this request: required, one value of visible ASCII.</summary>
    private static ApiResult? RequestKeyProblem(HttpRequest request)
    {
        if (!request.Headers.TryGetValue(KeyHeader, out var keyValues) || keyValues.Count == 0 || keyValues.ToString().Length == 0)
        {
            return Problems.MissingHeader(KeyHeader);
        }

        var requestKey = keyValues.ToString();
        return keyValues.Count > 1 || requestKey.Length > MaxKeyLength || requestKey.Any(c => c is < '!' or > '~')
            ? Problems.InvalidField(KeyHeader, $"'{KeyHeader}' must be one value of 1 to {MaxKeyLength} visible ASCII characters (a UUID is a good choice).")
            : null;
    }

    private static ApiResult ToHttp(ResendOutcome outcome) => outcome switch
    {
        ResendOutcome.Queued queued => new ApiResult(StatusCodes.Status202Accepted, queued.Resend),
        ResendOutcome.Repeated repeated => new ApiResult(StatusCodes.Status202Accepted, repeated.Resend),
        ResendOutcome.KeyReused => Problems.IdempotencyKeyReused(KeyHeader),
        ResendOutcome.NotResendable not => Problems.TicketNotResendable(not.Why),
        ResendOutcome.NotFound => Problems.RegistrationNotFound("registrationId"),
        _ => throw new UnreachableException($"Resending a ticket has no answer for {outcome.GetType().Name}."),
    };
}
