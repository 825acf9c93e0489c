using System.Globalization;
using System.Text.Json;
using EventRegistration.Functions.Infrastructure.Http;

namespace EventRegistration.Functions.WhatsAppWebhooks;

/// <summary>One delivery status as Meta reports it under <c>entry[].changes[].value.statuses[]</c>.</summary>
public sealed record WhatsAppStatus(
    string Wamid, string Status, DateTime OccurredAt, string? RecipientId, int? ErrorCode, string? ErrorTitle, string? ErrorDetail);

/// <summary>
/// The statuses of a WhatsApp Business Account webhook body. Inbound messages and other fields are
/// ignored; a status this app does not track (Meta adds some, e.g. 'deleted') is skipped; a status
/// whose id or time is missing or ill-formed refuses the whole body with the field named.
/// </summary>
public static class WhatsAppStatusPayload
{
    public static readonly string[] Tracked = ["sent", "delivered", "read", "failed"];

    public static IReadOnlyList<WhatsAppStatus>? TryParse(byte[] body, out ApiResult? problem)
    {
        using var json = JsonRequest.TryParse(body, out problem);
        if (json is null)
        {
            return null;
        }

        var root = json.Root;
        if (!root.TryGetProperty("object", out var kind) || kind.ValueKind != JsonValueKind.String)
        {
            problem = Problems.MissingField("object");
            return null;
        }

        var statuses = new List<WhatsAppStatus>();
        if (!root.TryGetProperty("entry", out var entries) || entries.ValueKind != JsonValueKind.Array)
        {
            problem = Problems.MissingField("entry");
            return null;
        }

        var e = 0;
        foreach (var entry in entries.EnumerateArray())
        {
            var c = 0;
            if (entry.ValueKind != JsonValueKind.Object || !entry.TryGetProperty("changes", out var changes) || changes.ValueKind != JsonValueKind.Array)
            {
                problem = Problems.MissingField($"entry[{e}].changes");
                return null;
            }

            foreach (var change in changes.EnumerateArray())
            {
                if (change.ValueKind == JsonValueKind.Object && change.TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.Object
                    && value.TryGetProperty("statuses", out var list) && list.ValueKind == JsonValueKind.Array)
                {
                    var s = 0;
                    foreach (var item in list.EnumerateArray())
                    {
                        var field = $"entry[{e}].changes[{c}].value.statuses[{s++}]";
                        if (Status(item, field, out problem) is { } status)
                        {
                            statuses.Add(status);
                        }
                        else if (problem is not null)
                        {
                            return null;
                        }
                    }
                }

                c++;
            }

            e++;
        }

        problem = null;
        return statuses;
    }

    /// <returns>The status, or null with <paramref name="problem"/> null when it is one this app does not track.</returns>
    private static WhatsAppStatus? Status(JsonElement item, string field, out ApiResult? problem)
    {
        problem = null;
        if (item.ValueKind != JsonValueKind.Object)
        {
            problem = Problems.InvalidField(field, "A status must be an object.");
            return null;
        }

        var id = Text(item, "id");
        if (id is null || id.Length is 0 or > 256 || id.Any(char.IsControl))
        {
            problem = Problems.InvalidField(field + ".id", "The message id (wamid) must be 1 to 256 characters.");
            return null;
        }

        var status = Text(item, "status");
        if (status is null)
        {
            problem = Problems.MissingField(field + ".status");
            return null;
        }

        if (!Tracked.Contains(status))
        {
            return null;
        }

        // Meta sends epoch seconds as a string; a number is taken too.
        var timestamp = item.TryGetProperty("timestamp", out var t) ? t : default;
        long seconds;
        if (!(timestamp.ValueKind == JsonValueKind.String && long.TryParse(timestamp.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out seconds))
            && !(timestamp.ValueKind == JsonValueKind.Number && timestamp.TryGetInt64(out seconds)))
        {
            problem = Problems.InvalidField(field + ".timestamp", "The timestamp must be epoch seconds.");
            return null;
        }

        if (seconds is < 0 or > 253_402_300_799)
        {
            problem = Problems.InvalidField(field + ".timestamp", "The timestamp is out of range.");
            return null;
        }

        int? code = null;
        string? title = null, detail = null;
        if (item.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0)
        {
            var error = errors[0];
            if (error.ValueKind == JsonValueKind.Object)
            {
                code = error.TryGetProperty("code", out var n) && n.ValueKind == JsonValueKind.Number && n.TryGetInt32(out var v) ? v : null;
                title = Clip(Text(error, "title") ?? Text(error, "message"));
                detail = error.TryGetProperty("error_data", out var data) && data.ValueKind == JsonValueKind.Object ? Clip(Text(data, "details")) : null;
            }
        }

        var recipient = Text(item, "recipient_id");
        return new WhatsAppStatus(id, status, DateTimeOffset.FromUnixTimeSeconds(seconds).UtcDateTime,
            recipient is { Length: <= 32 } ? recipient : null, code, title, detail);
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>PostgreSQL text cannot hold U+0000; WhatsApp's words are kept short and storable.</summary>
    private static string? Clip(string? text) =>
        text is null ? null : (text.Length > 500 ? text[..500] : text).Replace('\0', ' ');
}
