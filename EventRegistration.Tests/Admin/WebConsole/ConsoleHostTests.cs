using System.Net;
using EventRegistration.Functions.Admin.WebConsole;
using EventRegistration.Tests.Infrastructure.Browser;
using Microsoft.Playwright;

namespace EventRegistration.Tests.Admin.WebConsole;

/// <summary>
/// The path a browser takes: 127.0.0.1 → the functions served by functions.metadata's routes →
/// the console's files → the admin API → PostgreSQL. Plain HTTP checks first, then a real page.
/// </summary>
public sealed class ConsoleHostTests(BrowserApp app) : IClassFixture<BrowserApp>
{
    private static readonly HttpClient Client = new(new HttpClientHandler { AllowAutoRedirect = false });

    [Fact]
    public async Task Routes_follow_functions_metadata_methods_and_auth_levels()
    {
        Assert.Contains(app.Http.Functions, f => f.Name == nameof(ConsoleFunction.AdminConsole) && f.Route == "console/{*path}");

        // A keyed route (CreateOrder is AuthorizationLevel.Function) refuses a call without the key, as the host does.
        var eventId = await app.CreateEventAsync();
        var noKey = await Client.PostAsync($"{app.Http.BaseUrl}/api/events/{eventId}/orders", new StringContent("{}"));
        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
        using var keyed = new HttpRequestMessage(HttpMethod.Post, $"{app.Http.BaseUrl}/api/events/{eventId}/orders")
        {
            Content = new StringContent($$"""{"memberId":"{{await app.CreateMemberAsync()}}"}"""),
        };
        keyed.Headers.Add("x-functions-key", app.Http.FunctionKey);
        Assert.Equal(HttpStatusCode.Created, (await Client.SendAsync(keyed)).StatusCode);

        // A method functions.metadata does not bind is not served; nor is a route it does not declare.
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await Client.DeleteAsync($"{app.Http.BaseUrl}/api/admin/events")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync($"{app.Http.BaseUrl}/api/admin/nothing-here")).StatusCode);
        Assert.Empty(app.Http.Failures);
    }

    [Fact]
    public async Task Console_files_carry_their_type_a_strict_policy_and_revalidate_by_etag()
    {
        var redirect = await Client.GetAsync($"{app.Http.BaseUrl}/api/console");
        Assert.Equal(HttpStatusCode.MovedPermanently, redirect.StatusCode);
        Assert.Equal("/api/console/", redirect.Headers.Location!.OriginalString);

        var page = await Client.GetAsync($"{app.Http.BaseUrl}/api/console/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html; charset=utf-8", page.Content.Headers.ContentType!.ToString());
        var policy = page.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("default-src 'none'", policy, StringComparison.Ordinal);
        Assert.Contains("script-src 'self'", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe", policy, StringComparison.Ordinal);
        Assert.Equal("nosniff", page.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("no-cache", page.Headers.CacheControl!.ToString());

        var script = await Client.GetAsync($"{app.Http.BaseUrl}/api/console/app.js");
        Assert.Equal("text/javascript; charset=utf-8", script.Content.Headers.ContentType!.ToString());
        var css = await Client.GetAsync($"{app.Http.BaseUrl}/api/console/style.css");
        Assert.Equal("text/css; charset=utf-8", css.Content.Headers.ContentType!.ToString());

        using var again = new HttpRequestMessage(HttpMethod.Get, $"{app.Http.BaseUrl}/api/console/app.js");
        again.Headers.TryAddWithoutValidation("If-None-Match", script.Headers.ETag!.Tag);
        Assert.Equal(HttpStatusCode.NotModified, (await Client.SendAsync(again)).StatusCode);

        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync($"{app.Http.BaseUrl}/api/console/no-such-file.js")).StatusCode);
    }

    [SkippableFact]
    public async Task An_organiser_signs_in_with_the_admin_key_and_sees_the_events_with_their_seats()
    {
        await app.CreateEventAsync(capacity: 40);

        await using var browser = await app.OpenAsync(nameof(An_organiser_signs_in_with_the_admin_key_and_sees_the_events_with_their_seats));
        var page = browser.Page;
        await page.GotoAsync("/api/console/");
        await Assertions.Expect(page.Locator("#nav")).ToBeHiddenAsync();
        await page.GetByLabel("Admin key").FillAsync(AdminKeys.Organiser);
        await browser.ScreenshotAsync("console-sign-in");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        await Assertions.Expect(page.Locator("#nav")).ToBeVisibleAsync();
        var card = page.Locator("#events li").First;
        await Assertions.Expect(card).ToContainTextAsync("Test event");
        await Assertions.Expect(card).ToContainTextAsync("0 paid · 0 held · 40 free of 40");
        await browser.ScreenshotAsync("console-events");

        // The key stays in this tab only.
        Assert.Equal(AdminKeys.Organiser, await page.EvaluateAsync<string>("sessionStorage.getItem('evreg.adminKey')"));
        Assert.Null(await page.EvaluateAsync<string?>("localStorage.getItem('evreg.adminKey')"));
        browser.AssertNoErrors();
        Assert.Empty(app.Http.Failures);
    }
}
