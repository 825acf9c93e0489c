using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using EventRegistration.Functions.Infrastructure.Http;

namespace EventRegistration.Functions.Admin.Events;

/// <summary>Reads an event from a request body, answering the first defect with the problem that names its field. Mirrors the events table's checks.</summary>
public static partial class EventInputReader
{
    public static EventInput? Read(JsonRequest json, out ApiResult? problem)
    {
        var title = json.RequiredString("title", out problem);
        if (title is null)
        {
            return null;
        }

        if (title.Trim().Length == 0 || title.Length > 200)
        {
            problem = Problems.InvalidField("title", "'title' must hold 1 to 200 characters.");
            return null;
        }

        var startsText = json.RequiredString("startsAt", out problem);
        if (startsText is null)
        {
            return null;
        }

        if (!DateTimeOffset.TryParseExact(startsText, "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", CultureInfo.InvariantCulture, DateTimeStyles.None, out var startsAt)
            || !HasOffset(startsText))
        {
            problem = Problems.InvalidField("startsAt", "'startsAt' must be an ISO 8601 date and time with its UTC offset, e.g. 2026-12-31T18:30:00+05:30.");
            return null;
        }

        var timeZone = json.RequiredString("timeZone", out problem);
        if (timeZone is null)
        {
            return null;
        }

        if (timeZone.Length > 64 || !TimeZoneInfo.TryFindSystemTimeZoneById(timeZone, out _))
        {
            problem = Problems.InvalidField("timeZone", "'timeZone' must be an IANA time zone name, e.g. Asia/Kolkata.");
            return null;
        }

        string? venue = null;
        if (json.Root.TryGetProperty("venue", out var venueValue) && venueValue.ValueKind != JsonValueKind.Null)
        {
            if (venueValue.ValueKind != JsonValueKind.String || venueValue.GetString()!.Length > 300)
            {
                problem = Problems.InvalidField("venue", "'venue' must be a string of at most 300 characters, or null.");
                return null;
            }

            venue = venueValue.GetString();
        }

        int? capacity = null;
        if (json.Root.TryGetProperty("capacity", out var capacityValue) && capacityValue.ValueKind != JsonValueKind.Null)
        {
            if (capacityValue.ValueKind != JsonValueKind.Number || !capacityValue.TryGetInt32(out var c) || c <= 0)
            {
                problem = Problems.InvalidField("capacity", "'capacity' must be a whole number above 0, or null for no limit.");
                return null;
            }

            capacity = c;
        }

        if (!json.Root.TryGetProperty("pricePaise", out var priceValue) || priceValue.ValueKind == JsonValueKind.Null)
        {
            problem = Problems.MissingField("pricePaise");
            return null;
        }

        if (priceValue.ValueKind != JsonValueKind.Number || !priceValue.TryGetInt64(out var price) || price <= 0)
        {
            problem = Problems.InvalidField("pricePaise", "'pricePaise' must be a whole number of paise above 0.");
            return null;
        }

        var currency = json.RequiredString("currency", out problem);
        if (currency is null)
        {
            return null;
        }

        if (!CurrencyPattern().IsMatch(currency))
        {
            problem = Problems.InvalidField("currency", "'currency' must be a three-letter ISO 4217 code in capitals, e.g. INR.");
            return null;
        }

        var status = json.RequiredString("status", out problem);
        if (status is null)
        {
            return null;
        }

        if (status == "cancelled")
        {
            // Cancelling refunds every paid registration through the ledger: an action of its own, not a field edit.
            problem = Problems.InvalidField("status",
                "'status' cannot be set to cancelled here: cancelling an event refunds its payments; POST /api/admin/events/{eventId}/cancel with a 'reason' does it.");
            return null;
        }

        if (status is not ("draft" or "open" or "closed"))
        {
            problem = Problems.InvalidField("status", "'status' must be draft, open or closed.");
            return null;
        }

        return new EventInput(title, startsAt, timeZone, venue, capacity, price, currency, status);
    }

    private static bool HasOffset(string text) => text.EndsWith('Z') || OffsetPattern().IsMatch(text);

    [GeneratedRegex("^[A-Z]{3}$")]
    private static partial Regex CurrencyPattern();

    [GeneratedRegex("[+-][0-9]{2}:[0-9]{2}$")]
    private static partial Regex OffsetPattern();
}
