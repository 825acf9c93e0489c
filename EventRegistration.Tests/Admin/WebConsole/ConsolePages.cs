using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Infrastructure.Browser;
using Microsoft.Playwright;

namespace EventRegistration.Tests.Admin.WebConsole;

/// <summary>Steps the console tests share: signing a page in, and driving the public API over the real port.</summary>
public static class ConsolePages
{
    private static readonly HttpClient Client = new();

    /// <summary>Opens a console page already signed in with <paramref name="key"/> (as the sign-in form leaves it).</summary>
    public static async Task<BrowserPage> OpenSignedInAsync(this BrowserApp app, string testName, string hash, string key = AdminKeys.Operator,
        ViewportSize? viewport = null)
    {
        var browser = await app.OpenAsync(testName, viewport);
        await browser.Page.AddInitScriptAsync($"sessionStorage.setItem('evreg.adminKey', {JsonSerializer.Serialize(key)});");
        await browser.Page.GotoAsync("/api/console/" + hash);
        return browser;
    }

    public static ILocator Message(this BrowserPage browser) => browser.Page.Locator("#message");

    /// <summary>A member's order over HTTP with the function key, as the organisation's site makes it.</summary>
    public static async Task<(Guid RegistrationId, string OrderId, long Amount)> OrderOverHttpAsync(this BrowserApp app, Guid eventId, Guid memberId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{app.Http.BaseUrl}/api/events/{eventId}/orders")
        {
            Content = new StringContent($$"""{"memberId":"{{memberId}}"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("x-functions-key", app.Http.FunctionKey);
        var response = await Client.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (json.GetProperty("registrationId").GetGuid(), json.GetProperty("orderId").GetString()!, json.GetProperty("amount").GetInt64());
    }

    /// <summary>Razorpay's payment.captured webhook for the order, signed with the webhook secret, over HTTP.</summary>
    public static async Task<string> CaptureOverHttpAsync(this BrowserApp app, string orderId, long amount)
    {
        var paymentId = TestApp.NewPaymentId();
        var body = Encoding.UTF8.GetBytes(Webhook.Payment("payment.captured", paymentId, orderId, amount, "captured"));
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{app.Http.BaseUrl}/api/webhooks/razorpay") { Content = new ByteArrayContent(body) };
        request.Headers.Add("X-Razorpay-Signature", TestApp.WebhookSignature(body));
        request.Headers.Add("x-razorpay-event-id", "evt_" + Guid.NewGuid().ToString("N")[..14]);
        var response = await Client.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return paymentId;
    }

    /// <summary>A paid registration made over HTTP: order, then the captured webhook.</summary>
    public static async Task<(Guid RegistrationId, string OrderId, string PaymentId)> PaidOverHttpAsync(this BrowserApp app, Guid eventId, string name = "Asha Menon")
    {
        var memberId = await app.CreateMemberAsync("+9198" + Random.Shared.Next(10_000_000, 99_999_999), name);
        var (registrationId, orderId, amount) = await app.OrderOverHttpAsync(eventId, memberId);
        var paymentId = await app.CaptureOverHttpAsync(orderId, amount);
        return (registrationId, orderId, paymentId);
    }
}
