using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;

namespace EventRegistration.Functions.Admin.Access;

/// <summary>Why an operator acts (cancel, refund, resend): required, said in words, kept in the audit and the record.</summary>
public static class AdminReason
{
    public const int MaxLength = 500;

    /// <summary>Reads a body <c>{"reason": "…"}</c> (bounded, as every admin body is).</summary>
    /// <returns>The reason, or null with the problem to answer.</returns>
    public static async Task<(string? Reason, ApiResult? Problem)> ReadAsync(HttpRequest request, int maxBodyBytes, CancellationToken cancellationToken)
    {
        var (json, problem) = await JsonRequest.ReadAsync(request, maxBodyBytes, cancellationToken);
        if (json is null)
        {
            return (null, problem);
        }

        using (json)
        {
            var reason = Read(json, out problem);
            return (reason, problem);
        }
    }

    /// <returns>The reason, or null with the problem naming the field <c>reason</c>.</returns>
    public static string? Read(JsonRequest json, out ApiResult? problem)
    {
        var reason = json.RequiredString("reason", out problem);
        if (reason is null)
        {
            return null;
        }

        if (reason.Trim().Length == 0 || reason.Length > MaxLength)
        {
            problem = Problems.InvalidField("reason", $"'reason' must say why, in 1 to {MaxLength} characters.");
            return null;
        }

        return reason.Trim();
    }

    /// <summary>
    /// The opening every operator action on one record shares (cancel an event, refund or resend a
    /// registration), in the order that keeps a caller without the role from learning anything:
    /// access, the record's id from the route, the action's own header checks, then the body's reason.
    /// </summary>
    /// <returns>The request, or null with the problem to answer.</returns>
    public static async Task<(OperatorRequest? Request, ApiResult? Problem)> ReadOperatorRequestAsync(
        AdminAccess access, HttpRequest request, string routeField, string routeValue, int maxBodyBytes, Func<ApiResult?>? checkHeaders = null)
    {
        if (AdminHttp.Refusal(access, request, AdminRole.Operator, out var actor) is { } refusal)
        {
            return (null, refusal);
        }

        if (!Guid.TryParse(routeValue, out var id))
        {
            return (null, Problems.RouteIdNotUuid(routeField));
        }

        if (checkHeaders?.Invoke() is { } headerProblem)
        {
            return (null, headerProblem);
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        var (reason, problem) = await ReadAsync(request, maxBodyBytes, cancellationToken);
        return reason is null ? (null, problem) : (new OperatorRequest(actor, id, reason, cancellationToken), null);
    }
}

/// <summary>An operator's action, read and checked: who asks, on which record, why.</summary>
public sealed record OperatorRequest(AdminActor Actor, Guid Id, string Reason, CancellationToken CancellationToken);
