using System.Diagnostics;
using System.Globalization;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Admin.Anomalies;

/// <summary>/api/admin/anomalies: open anomalies by kind and event (GET), and resolving one with a note (POST …/{id}/resolve). Operators only.</summary>
public sealed class AdminAnomaliesFunction(
    AdminAccess access, AdminAnomaliesHandler handler, IOptions<AdminOptions> options, ILogger<AdminAnomaliesFunction> logger)
{
    private const int DefaultLimit = 50;
    private const int MaxLimit = 500;
    private const int MaxNoteLength = 2000;

    private static readonly HashSet<string> Kinds = Enum.GetValues<AnomalyKind>().Select(AnomalyLog.Name).ToHashSet(StringComparer.Ordinal);

    [Function(nameof(AdminListAnomalies))]
    public async Task<IActionResult> AdminListAnomalies(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "admin/anomalies")] HttpRequest request)
    {
        if (AdminHttp.Refusal(access, request, AdminRole.Operator, out _) is { } refusal)
        {
            return refusal;
        }

        var query = request.Query;
        string? kind = query.TryGetValue("kind", out var kindValues) ? kindValues.ToString() : null;
        if (kind is not null && !Kinds.Contains(kind))
        {
            return Problems.InvalidField("kind", $"'kind' must be one of: {string.Join(", ", Kinds.Order(StringComparer.Ordinal))}.");
        }

        Guid? eventId = null;
        if (query.TryGetValue("eventId", out var eventValues))
        {
            if (!Guid.TryParse(eventValues.ToString(), out var parsed))
            {
                return Problems.InvalidField("eventId", "'eventId' must be a UUID.");
            }

            eventId = parsed;
        }

        var after = 0L;
        if (query.TryGetValue("after", out var afterValues)
            && (!long.TryParse(afterValues.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out after)))
        {
            return Problems.InvalidField("after", "'after' must be the nextAfter of the previous page (a whole number).");
        }

        var limit = DefaultLimit;
        if (query.TryGetValue("limit", out var limitValues)
            && (!int.TryParse(limitValues.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxLimit))
        {
            return Problems.InvalidField("limit", $"'limit' must be a whole number from 1 to {MaxLimit}.");
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        return await HttpFailures.GuardAsync(logger, nameof(AdminListAnomalies),
            async () => ApiResult.Ok(await handler.ListOpenAsync(kind, eventId, after, limit, cancellationToken)));
    }

    [Function(nameof(AdminResolveAnomaly))]
    public async Task<IActionResult> AdminResolveAnomaly(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "admin/anomalies/{anomalyId}/resolve")] HttpRequest request,
        string anomalyId)
    {
        if (AdminHttp.Refusal(access, request, AdminRole.Operator, out var actor) is { } refusal)
        {
            return refusal;
        }

        if (!long.TryParse(anomalyId, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id < 1)
        {
            return Problems.InvalidField("anomalyId", "'anomalyId' in the route must be a whole number above 0.");
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
            return Problems.InvalidField("note", $"'note' must say what was done, in 1 to {MaxNoteLength} characters.");
        }

        return await HttpFailures.GuardAsync(logger, nameof(AdminResolveAnomaly),
            async () => ToHttp(await handler.ResolveAsync(actor, id, note, cancellationToken)));
    }

    /// <summary>Every outcome of a resolution and its answer, in one place.</summary>
    private static ApiResult ToHttp(ResolveAnomalyOutcome outcome) => outcome switch
    {
        ResolveAnomalyOutcome.Resolved resolved => ApiResult.Ok(resolved.Anomaly),
        ResolveAnomalyOutcome.NotFound => Problems.AnomalyNotFound(),
        ResolveAnomalyOutcome.AlreadyResolved resolved => Problems.AnomalyAlreadyResolved(resolved.Anomaly.ResolvedBy),
        _ => throw new UnreachableException($"Resolving an anomaly has no answer for {outcome.GetType().Name}."),
    };
}
