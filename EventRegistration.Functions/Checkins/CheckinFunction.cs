using System.Text.Json;
using EventRegistration.Functions.Infrastructure.Http;
using EventRegistration.Functions.Tickets;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Checkins;

/// <summary>
/// POST /api/checkins: a door scan. The credential's presence, the body and the ticket's signature
/// are checked before anything touches the database, so a flood of forged or junk scans costs
/// the server CPU only; then <see cref="CheckinHandler"/> admits exactly once.
/// </summary>
public sealed class CheckinFunction(CheckinAccess access, TicketSigner signer, CheckinHandler handler, ILogger<CheckinFunction> logger)
{
    private const int MaxBodyBytes = 8192;

    [Function(nameof(Checkin))]
    public async Task<IActionResult> Checkin(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "checkins")] HttpRequest request)
    {
        if (access.Identify(request, out var credential) is { } refusal)
        {
            return refusal;
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        var (json, problem) = await JsonRequest.ReadAsync(request, MaxBodyBytes, cancellationToken);
        if (json is null)
        {
            return problem!;
        }

        using var parsed = json;
        if (ScanFields.Read(json.Root, "", out problem) is not { } fields)
        {
            return problem!;
        }

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
            return Problems.InvalidField("eventId", "'eventId' is required when scanning with an admin key: it names the event at this door.");
        }

        if (signer.Verify(fields.Token) is not { } claims)
        {
            return Problems.TicketInvalid();
        }

        return await HttpFailures.GuardAsync(logger, nameof(Checkin), async () =>
            (await handler.ScanAsync(new Scan(credential, claims, fields.ScannerId, fields.Nonce, eventId), cancellationToken)).ToResult());
    }
}

/// <summary>The fields every scan carries, online or in a batch; <paramref name="prefix"/> names the item in errors.</summary>
public sealed record ScanFields(string Token, string ScannerId, Guid Nonce)
{
    public const int MaxScannerIdLength = 100;

    public static ScanFields? Read(JsonElement item, string prefix, out ApiResult? problem)
    {
        problem = null;
        if (Text(item, prefix, "token", 1000, out problem) is not { } token
            || Text(item, prefix, "scannerId", MaxScannerIdLength, out problem) is not { } scannerId
            || Text(item, prefix, "nonce", 100, out problem) is not { } nonceText)
        {
            return null;
        }

        if (!Guid.TryParse(nonceText, out var nonce) || nonce == Guid.Empty)
        {
            problem = Problems.InvalidField(prefix + "nonce", $"'{prefix}nonce' must be a UUID made by the scanner for this scan (crypto.randomUUID()).");
            return null;
        }

        return new ScanFields(token, scannerId, nonce);
    }

    private static string? Text(JsonElement item, string prefix, string name, int maxLength, out ApiResult? problem)
    {
        problem = null;
        var field = prefix + name;
        if (!item.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            problem = Problems.MissingField(field);
            return null;
        }

        if (value.ValueKind != JsonValueKind.String || value.GetString() is not { Length: > 0 } text || text.Length > maxLength || string.IsNullOrWhiteSpace(text))
        {
            problem = Problems.InvalidField(field, $"'{field}' must be a non-empty string of at most {maxLength} characters.");
            return null;
        }

        return text;
    }
}
