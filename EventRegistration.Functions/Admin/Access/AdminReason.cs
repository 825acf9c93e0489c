using EventRegistration.Functions.Infrastructure.Http;

namespace EventRegistration.Functions.Admin.Access;

/// <summary>Why an operator acts (cancel, refund, resend): required, said in words, kept in the audit and the record.</summary>
public static class AdminReason
{
    public const int MaxLength = 500;

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
