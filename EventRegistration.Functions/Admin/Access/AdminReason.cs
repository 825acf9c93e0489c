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
}
