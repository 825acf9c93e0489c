using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Admin.Events;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Admin;

/// <summary>The admin keys the test app is configured with (as hashes only, like production), and calls that present them.</summary>
public static class AdminKeys
{
    public const string Organiser = "test-organiser-key-0123456789";
    public const string Operator = "test-operator-key-9876543210";

    /// <summary>The previous organiser key, still configured during a rotation.</summary>
    public const string RotatedOrganiser = "test-organiser-key-previous";

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public static string Setting => $"organiser:{Hash(Organiser)}, operator:{Hash(Operator)},organiser:{Hash(RotatedOrganiser)}";

    public static Dictionary<string, string[]> With(string? key) =>
        key is null ? [] : new() { [AdminAccess.KeyHeader] = [key] };

    /// <summary>An App Service Authentication principal header, as the platform writes it.</summary>
    public static Dictionary<string, string[]> Principal(string name, params string[] roles)
    {
        var claims = roles.Select(r => new { typ = "roles", val = r }).Append(new { typ = "name", val = name });
        var json = JsonSerializer.Serialize(new { auth_typ = "aad", name_typ = "name", role_typ = "roles", claims });
        return new()
        {
            [AdminAccess.PrincipalHeader] = [Convert.ToBase64String(Encoding.UTF8.GetBytes(json))],
            [AdminAccess.PrincipalNameHeader] = [name],
        };
    }

    public static async Task<HttpAnswer> CreateEventAsync(this TestApp app, string body, string? key = Organiser)
    {
        var request = TestApp.Request(body, With(key));
        return await TestApp.ExecuteAsync(request, await app.Function<AdminEventsFunction>().AdminCreateEvent(request));
    }

    public static async Task<HttpAnswer> UpdateEventAsync(this TestApp app, string eventId, string body, string? key = Organiser)
    {
        var request = TestApp.Request(body, With(key));
        request.Method = "PUT";
        return await TestApp.ExecuteAsync(request, await app.Function<AdminEventsFunction>().AdminUpdateEvent(request, eventId));
    }

    public static async Task<HttpAnswer> ListEventsAsync(this TestApp app, IDictionary<string, string[]> headers)
    {
        var request = TestApp.Request("", headers);
        request.Method = "GET";
        return await TestApp.ExecuteAsync(request, await app.Function<AdminEventsFunction>().AdminListEvents(request));
    }

    public static string EventBody(
        int? capacity = 100, long pricePaise = 50_000, string status = "open", string title = "Annual meet",
        string startsAt = "2026-12-31T18:30:00+05:30", string timeZone = "Asia/Kolkata", string currency = "INR") =>
        JsonSerializer.Serialize(new { title, startsAt, timeZone, venue = "Town hall", capacity, pricePaise, currency, status });
}

public static class AdminAnomalyCalls
{
    public static async Task<HttpAnswer> ListAnomaliesAsync(this TestApp app, string query, string? key = AdminKeys.Operator)
    {
        var request = TestApp.Request("", AdminKeys.With(key));
        request.Method = "GET";
        request.QueryString = new Microsoft.AspNetCore.Http.QueryString(query);
        return await TestApp.ExecuteAsync(request,
            await app.Function<EventRegistration.Functions.Admin.Anomalies.AdminAnomaliesFunction>().AdminListAnomalies(request));
    }

    public static async Task<HttpAnswer> ResolveAnomalyAsync(this TestApp app, string id, string body, string? key = AdminKeys.Operator)
    {
        var request = TestApp.Request(body, AdminKeys.With(key));
        return await TestApp.ExecuteAsync(request,
            await app.Function<EventRegistration.Functions.Admin.Anomalies.AdminAnomaliesFunction>().AdminResolveAnomaly(request, id));
    }
}
