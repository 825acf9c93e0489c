using System.Diagnostics;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Admin.ScannerKeys;

/// <summary>
/// An event's door scanner keys, for organisers: create (the key is in that answer and nowhere
/// else, ever), list, revoke.
/// </summary>
public sealed class ScannerKeysFunction(
    AdminAccess access, ScannerKeysHandler handler, IOptions<AdminOptions> options, ILogger<ScannerKeysFunction> logger)
{
    private const int MaxNameLength = 100;

    [Function(nameof(AdminCreateScannerKey))]
    public async Task<IActionResult> AdminCreateScannerKey(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "admin/events/{eventId}/scanner-keys")] HttpRequest request,
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
        var (json, problem) = await JsonRequest.ReadAsync(request, options.Value.MaxBodyBytes, cancellationToken);
        if (json is null)
        {
            return problem!;
        }

        using var parsed = json;
        var name = json.RequiredString("name", out problem);
        if (name is null)
        {
            return problem!;
        }

        if (name.Trim().Length == 0 || name.Length > MaxNameLength)
        {
            return Problems.InvalidField("name", $"'name' says which door or device holds the key, in 1 to {MaxNameLength} characters.");
        }

        return await HttpFailures.GuardAsync(logger, nameof(AdminCreateScannerKey),
            async () => ToHttp(await handler.CreateAsync(actor, id, name.Trim(), cancellationToken)));
    }

    [Function(nameof(AdminListScannerKeys))]
    public async Task<IActionResult> AdminListScannerKeys(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "admin/events/{eventId}/scanner-keys")] HttpRequest request,
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
        return await HttpFailures.GuardAsync(logger, nameof(AdminListScannerKeys),
            async () => ToHttp(await handler.ListAsync(id, cancellationToken)));
    }

    [Function(nameof(AdminRevokeScannerKey))]
    public async Task<IActionResult> AdminRevokeScannerKey(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "admin/scanner-keys/{keyId}/revoke")] HttpRequest request,
        string keyId)
    {
        if (AdminHttp.Refusal(access, request, AdminRole.Organiser, out var actor) is { } refusal)
        {
            return refusal;
        }

        if (!Guid.TryParse(keyId, out var id))
        {
            return Problems.RouteIdNotUuid("keyId");
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        return await HttpFailures.GuardAsync(logger, nameof(AdminRevokeScannerKey),
            async () => ToHttp(await handler.RevokeAsync(actor, id, cancellationToken)));
    }

    /// <summary>Every outcome and its answer, in one place.</summary>
    private static ApiResult ToHttp(ScannerKeyOutcome outcome) => outcome switch
    {
        ScannerKeyOutcome.Created created => ApiResult.Created(created.Key),
        ScannerKeyOutcome.Revoked revoked => ApiResult.Ok(revoked.Key),
        ScannerKeyOutcome.Listed listed => ApiResult.Ok(new { Keys = listed.Keys }),
        ScannerKeyOutcome.EventNotFound => Problems.EventNotFound(),
        ScannerKeyOutcome.EventCancelled => Problems.EventCancelled(),
        ScannerKeyOutcome.KeyNotFound => Problems.ScannerKeyNotFound(),
        _ => throw new UnreachableException($"Scanner keys have no answer for {outcome.GetType().Name}."),
    };
}
