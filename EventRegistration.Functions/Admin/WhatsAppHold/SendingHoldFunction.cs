using System.Diagnostics;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Admin.WhatsAppHold;

/// <summary>
/// /api/admin/whatsapp/sending-hold: the current (or last) hold with the tickets it holds (GET), and
/// its release with a note saying what was fixed (POST …/release). Operators only.
/// </summary>
public sealed class SendingHoldFunction(
    AdminAccess access, SendingHoldHandler handler, IOptions<AdminOptions> options, ILogger<SendingHoldFunction> logger)
{
    private const int MaxNoteLength = 2000;

    [Function(nameof(AdminSendingHold))]
    public async Task<IActionResult> AdminSendingHold(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "admin/whatsapp/sending-hold")] HttpRequest request)
    {
        if (AdminHttp.Refusal(access, request, AdminRole.Operator, out _) is { } refusal)
        {
            return refusal;
        }

        return await HttpFailures.GuardAsync(logger, nameof(AdminSendingHold), async () =>
        {
            var hold = await handler.CurrentAsync(request.HttpContext.RequestAborted);
            return ApiResult.Ok(new { onHold = hold is { ReleasedAt: null }, hold });
        });
    }

    [Function(nameof(AdminReleaseSendingHold))]
    public async Task<IActionResult> AdminReleaseSendingHold(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "admin/whatsapp/sending-hold/release")] HttpRequest request)
    {
        if (AdminHttp.Refusal(access, request, AdminRole.Operator, out var actor) is { } refusal)
        {
            return refusal;
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        var (json, problem) = await JsonRequest.ReadAsync(request, options.Value.MaxBodyBytes, cancellationToken);
        if (json is null)
        {
            return problem!;
        }

        using var parsed = json;
        var note = json.RequiredString("note", out problem);
        if (note is null)
        {
            return problem!;
        }

        if (note.Trim().Length == 0 || note.Length > MaxNoteLength)
        {
            return Problems.InvalidField("note", $"'note' must say what was fixed (the template, the token), in 1 to {MaxNoteLength} characters.");
        }

        return await HttpFailures.GuardAsync(logger, nameof(AdminReleaseSendingHold), async () =>
            await handler.ReleaseAsync(actor, note, cancellationToken) switch
            {
                ReleaseHoldOutcome.Released released => ApiResult.Ok(released.Release),
                ReleaseHoldOutcome.NotHeld => Problems.SendingNotHeld(),
                var other => throw new UnreachableException($"Releasing the hold has no answer for {other.GetType().Name}."),
            });
    }
}
