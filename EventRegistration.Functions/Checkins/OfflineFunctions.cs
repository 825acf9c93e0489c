using System.Globalization;
using System.Text.Json;
using EventRegistration.Functions.Infrastructure.Http;
using EventRegistration.Functions.Tickets;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Checkins;

/// <summary>Offline scanning: the kit a scanner downloads before the network goes, and the batch it uploads when it is back.</summary>
public sealed class OfflineFunctions(
    CheckinAccess access, TicketSigner signer, OfflineKitHandler kits, CheckinBatchHandler batches, TimeProvider clock, ILogger<OfflineFunctions> logger)
{
    /// <summary>5,000 scans of about 250 bytes each, with room to spare.</summary>
    private const int MaxBatchBytes = 4 * 1024 * 1024;

    /// <summary>Device clocks drift; a scan further than this from the server's clock is refused as a typo or a broken clock.</summary>
    private static readonly TimeSpan FutureSlack = TimeSpan.FromDays(1);
    private static readonly TimeSpan PastLimit = TimeSpan.FromDays(30);

    [Function(nameof(CheckinOfflineKit))]
    public async Task<IActionResult> CheckinOfflineKit(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "checkins/events/{eventId}/offline-kit")] HttpRequest request,
        string eventId)
    {
        if (access.Identify(request, out var credential) is { } refusal)
        {
            return refusal;
        }

        if (!Guid.TryParse(eventId, out var id))
        {
            return Problems.RouteIdNotUuid("eventId");
        }

        long? since = null;
        if (request.Query.TryGetValue("since", out var sinceValues))
        {
            if (!long.TryParse(sinceValues.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                return Problems.InvalidField("since", "'since' must be the version of a kit this scanner received (a whole number).");
            }

            since = parsed;
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        return await HttpFailures.GuardAsync(logger, nameof(CheckinOfflineKit), () => kits.ReadAsync(credential, id, since, cancellationToken));
    }

    [Function(nameof(CheckinBatch))]
    public async Task<IActionResult> CheckinBatch(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "checkins/batch")] HttpRequest request)
    {
        if (access.Identify(request, out var credential) is { } refusal)
        {
            return refusal;
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        var (json, problem) = await JsonRequest.ReadAsync(request, MaxBatchBytes, cancellationToken);
        if (json is null)
        {
            return problem!;
        }

        using var parsed = json;
        Guid? eventId = null;
        if (json.Root.TryGetProperty("eventId", out var eventValue) && eventValue.ValueKind != JsonValueKind.Null)
        {
            if (eventValue.ValueKind != JsonValueKind.String || !Guid.TryParse(eventValue.GetString(), out var parsedEvent))
            {
                return Problems.InvalidField("eventId", "'eventId' must be a UUID.");
            }

            eventId = parsedEvent;
        }
        else if (credential is ScannerCredential.Admin)
        {
            return Problems.InvalidField("eventId", "'eventId' is required when uploading with an admin key: it names the event of these scans.");
        }

        if (!json.Root.TryGetProperty("scans", out var items) || items.ValueKind == JsonValueKind.Null)
        {
            return Problems.MissingField("scans");
        }

        if (items.ValueKind != JsonValueKind.Array || items.GetArrayLength() is 0 or > CheckinBatchHandler.MaxScans)
        {
            return Problems.InvalidField("scans", $"'scans' must be an array of 1 to {CheckinBatchHandler.MaxScans} scans.");
        }

        var now = clock.GetUtcNow();
        var scans = new List<OfflineScan>(items.GetArrayLength());
        var index = 0;
        foreach (var item in items.EnumerateArray())
        {
            var prefix = $"scans[{index++}].";
            if (item.ValueKind != JsonValueKind.Object)
            {
                return Problems.InvalidField(prefix[..^1], $"'{prefix[..^1]}' must be an object.");
            }

            if (ScanFields.Read(item, prefix, out problem) is not { } fields)
            {
                return problem!;
            }

            if (!item.TryGetProperty("scannedAt", out var at) || at.ValueKind == JsonValueKind.Null)
            {
                return Problems.MissingField(prefix + "scannedAt");
            }

            if (at.ValueKind != JsonValueKind.String
                || !DateTimeOffset.TryParse(at.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.None, out var scannedAt)
                || !HasOffset(at.GetString()!)
                || scannedAt > now + FutureSlack || scannedAt < now - PastLimit)
            {
                return Problems.InvalidField(prefix + "scannedAt",
                    $"'{prefix}scannedAt' must be when the device made the scan, ISO 8601 with its offset (e.g. 2026-12-31T18:30:05.120Z), within the last 30 days.");
            }

            var utc = scannedAt.UtcDateTime;
            scans.Add(new OfflineScan(fields, new DateTime(utc.Ticks - utc.Ticks % 10, DateTimeKind.Utc), signer.Verify(fields.Token)));
        }

        return await HttpFailures.GuardAsync(logger, nameof(CheckinBatch), async () =>
            (await batches.ApplyAsync(credential, eventId, scans, cancellationToken)).ToResult());
    }

    /// <summary>A time without an offset would be read in the server's zone: refused rather than guessed.</summary>
    private static bool HasOffset(string text) =>
        text.EndsWith('Z') || text.EndsWith('z') || (text.Length > 6 && text[^6] is '+' or '-' && text[^3] == ':');
}
