using System.Text.Json;

namespace EventRegistration.Tests.Foundation;

/// <summary>What the Functions host will bind, read from the build output's functions.metadata.</summary>
public sealed class FunctionsMetadataTests
{
    private static readonly Lazy<JsonElement[]> Functions = new(Load);

    private static JsonElement[] Load()
    {
        var configuration = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "EventRegistration.sln")))
        {
            directory = directory.Parent;
        }

        Assert.NotNull(directory);
        var path = Path.Combine(directory.FullName, "EventRegistration.Functions", "bin", configuration, "net10.0", "functions.metadata");
        Assert.True(File.Exists(path), $"{path} is missing: build the Functions project first.");
        return JsonDocument.Parse(File.ReadAllText(path)).RootElement.EnumerateArray().ToArray();
    }

    internal static IReadOnlyList<JsonElement> All => Functions.Value;

    internal static JsonElement Function(string name) =>
        Functions.Value.Single(f => f.GetProperty("name").GetString() == name);

    internal static JsonElement Trigger(string name) =>
        Function(name).GetProperty("bindings").EnumerateArray()
            .Single(b => b.GetProperty("type").GetString()!.EndsWith("Trigger", StringComparison.Ordinal));

    [Theory]
    [InlineData("CreateOrder", "events/{eventId}/orders", "Function")]
    [InlineData("ConfirmCheckout", "payments/confirm", "Anonymous")]
    [InlineData("RazorpayWebhook", "webhooks/razorpay", "Anonymous")]
    [InlineData("WhatsAppWebhook", "webhooks/whatsapp", "Anonymous")]
    [InlineData("WhatsAppWebhookVerify", "webhooks/whatsapp", "Anonymous", "get")]
    [InlineData("Checkin", "checkins", "Anonymous")]
    [InlineData("CheckinBatch", "checkins/batch", "Anonymous")]
    [InlineData("ScannerPage", "checkins/scanner/{*file}", "Anonymous", "get")]
    [InlineData("CheckinOfflineKit", "checkins/events/{eventId}/offline-kit", "Anonymous", "get")]
    public void Http_functions_bind_their_route_method_and_auth_level(string name, string route, string authLevel, string method = "post")
    {
        var trigger = Trigger(name);
        Assert.Equal("httpTrigger", trigger.GetProperty("type").GetString());
        Assert.Equal(route, trigger.GetProperty("route").GetString());
        Assert.Equal(authLevel, trigger.GetProperty("authLevel").GetString(), ignoreCase: true);
        Assert.Equal([method], trigger.GetProperty("methods").EnumerateArray().Select(m => m.GetString()!.ToLowerInvariant()));
    }

    [Fact]
    public void Health_is_an_anonymous_get_on_its_own_route()
    {
        var trigger = Trigger("Health");
        Assert.Equal("health", trigger.GetProperty("route").GetString());
        Assert.Equal("Anonymous", trigger.GetProperty("authLevel").GetString(), ignoreCase: true);
        Assert.Equal(["get"], trigger.GetProperty("methods").EnumerateArray().Select(m => m.GetString()!.ToLowerInvariant()));
    }

    [Theory]
    [InlineData("AdminCreateEvent", "admin/events", "post")]
    [InlineData("AdminUpdateEvent", "admin/events/{eventId}", "put")]
    [InlineData("AdminListEvents", "admin/events", "get")]
    [InlineData("AdminListAnomalies", "admin/anomalies", "get")]
    [InlineData("AdminUpsertMember", "admin/members/{memberId}", "put")]
    [InlineData("AdminListAttendees", "admin/events/{eventId}/attendees", "get")]
    [InlineData("AdminLookupRegistration", "admin/registrations/lookup", "get")]
    [InlineData("AdminResolveAnomaly", "admin/anomalies/{anomalyId}/resolve", "post")]
    [InlineData("AdminCreateScannerKey", "admin/events/{eventId}/scanner-keys", "post")]
    [InlineData("AdminListScannerKeys", "admin/events/{eventId}/scanner-keys", "get")]
    [InlineData("AdminRevokeScannerKey", "admin/scanner-keys/{keyId}/revoke", "post")]
    [InlineData("AdminEventAttendance", "admin/events/{eventId}/attendance", "get")]
    [InlineData("AdminConsole", "console/{*path}", "get")]
    public void Admin_functions_bind_their_route_and_method_and_leave_access_to_the_app(string name, string route, string method)
    {
        var trigger = Trigger(name);
        Assert.Equal("httpTrigger", trigger.GetProperty("type").GetString());
        Assert.Equal(route, trigger.GetProperty("route").GetString());
        Assert.Equal("Anonymous", trigger.GetProperty("authLevel").GetString(), ignoreCase: true);
        Assert.Equal([method], trigger.GetProperty("methods").EnumerateArray().Select(m => m.GetString()!.ToLowerInvariant()));
    }
}
