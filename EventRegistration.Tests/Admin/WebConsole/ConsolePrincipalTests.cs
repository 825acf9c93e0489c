using System.Net;
using System.Text.Json;
using EventRegistration.Tests.Infrastructure.Browser;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace EventRegistration.Tests.Admin.WebConsole;

/// <summary>The app as it runs behind App Service Authentication: the platform signs people in and adds the principal headers.</summary>
public sealed class PrincipalBrowserApp : BrowserApp
{
    protected override void Configure(IDictionary<string, string?> settings) =>
        settings["Admin:TrustAppServiceAuthentication"] = "true";
}

public sealed class ConsolePrincipalTests(PrincipalBrowserApp app) : IClassFixture<PrincipalBrowserApp>
{
    [SkippableFact]
    public async Task A_person_signed_in_by_App_Service_Authentication_goes_straight_in_without_a_key()
    {
        await app.CreateEventAsync(capacity: 25);
        // What the platform adds to every request of a signed-in person (browsers cannot set these themselves).
        var headers = AdminKeys.Principal("asha@example.org", "operator").ToDictionary(h => h.Key, h => h.Value[0]);
        await using var browser = await app.OpenAsync(nameof(A_person_signed_in_by_App_Service_Authentication_goes_straight_in_without_a_key), headers: headers);
        await browser.Page.GotoAsync("/api/console/");

        await Expect(browser.Page.Locator("#events li").First).ToContainTextAsync("free of 25");
        await Expect(browser.Page.Locator("#sign-in")).ToHaveCountAsync(0);
        Assert.Null(await browser.Page.EvaluateAsync<string?>("sessionStorage.getItem('evreg.adminKey')"));

        // Signing out ends the platform's session (its cookie), not a key this tab never had.
        var signOut = browser.Page.Locator("#sign-out-microsoft");
        await Expect(signOut).ToBeVisibleAsync();
        await Expect(signOut).ToHaveAttributeAsync("href", "/.auth/logout?post_logout_redirect_uri=/api/console/");
        await Expect(browser.Page.Locator("#sign-out")).ToBeHiddenAsync();
        await Expect(browser.Page.Locator("#nav").GetByRole(AriaRole.Link, new() { Name = "Look-up" })).ToBeVisibleAsync();
        browser.AssertNoErrors();
    }

    [SkippableFact]
    public async Task Where_App_Service_Authentication_is_trusted_the_sign_in_page_offers_Microsoft_beside_the_admin_key()
    {
        await using var browser = await app.OpenAsync(nameof(Where_App_Service_Authentication_is_trusted_the_sign_in_page_offers_Microsoft_beside_the_admin_key));
        var page = browser.Page;
        await page.GotoAsync("/api/console/");

        var microsoft = page.GetByRole(AriaRole.Link, new() { Name = "Sign in with Microsoft" });
        await Expect(microsoft).ToHaveAttributeAsync("href", "/.auth/login/aad?post_login_redirect_uri=/api/console/");
        await Expect(page.GetByLabel("Admin key")).ToBeVisibleAsync();
        await browser.ScreenshotAsync("console-sign-in-microsoft");

        // The key still works, and its sign-out is the tab's own.
        await page.GetByLabel("Admin key").FillAsync(AdminKeys.Organiser);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in", Exact = true }).ClickAsync();
        await Expect(page.Locator("#events")).ToBeVisibleAsync();
        await Expect(page.Locator("#sign-out")).ToBeVisibleAsync();
        await Expect(page.Locator("#sign-out-microsoft")).ToBeHiddenAsync();
        await page.Locator("#sign-out").ClickAsync();
        await Expect(microsoft).ToBeVisibleAsync();
        Assert.Null(await page.EvaluateAsync<string?>("sessionStorage.getItem('evreg.adminKey')"));
        browser.AssertNoErrors();
    }

    [Fact]
    public async Task The_session_route_says_who_and_with_which_role_and_every_answer_carries_the_ways_in()
    {
        using var client = new HttpClient();
        async Task<(HttpStatusCode Status, JsonElement Json)> SessionAsync(IDictionary<string, string[]> headers)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"{app.Http.BaseUrl}/api/admin/session");
            foreach (var (name, values) in headers)
            {
                request.Headers.Add(name, values);
            }

            var response = await client.SendAsync(request);
            Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
            return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement);
        }

        var person = await SessionAsync(AdminKeys.Principal("asha@example.org", "operator"));
        Assert.Equal(HttpStatusCode.OK, person.Status);
        Assert.Equal(("user:asha@example.org", "operator", "appServiceAuthentication"), (person.Json.GetProperty("actor").GetString(),
            person.Json.GetProperty("role").GetString(), person.Json.GetProperty("signedInWith").GetString()));
        Assert.Equal("/.auth/login/aad?post_login_redirect_uri=/api/console/",
            person.Json.GetProperty("signIn").GetProperty("microsoft").GetProperty("login").GetString());

        var key = await SessionAsync(AdminKeys.With(AdminKeys.Organiser));
        Assert.Equal(("organiser", "key"), (key.Json.GetProperty("role").GetString(), key.Json.GetProperty("signedInWith").GetString()));

        var nobody = await SessionAsync(new Dictionary<string, string[]>());
        Assert.Equal(HttpStatusCode.Unauthorized, nobody.Status);
        Assert.Equal("urn:eventregistration:problem:admin-unauthenticated", nobody.Json.GetProperty("type").GetString());
        Assert.Equal("/.auth/logout?post_logout_redirect_uri=/api/console/",
            nobody.Json.GetProperty("signIn").GetProperty("microsoft").GetProperty("logout").GetString());
        var wrongKey = await SessionAsync(AdminKeys.With("not-a-key"));
        Assert.Equal(HttpStatusCode.Unauthorized, wrongKey.Status);

        var noRole = await SessionAsync(AdminKeys.Principal("visitor@example.org"));
        Assert.Equal(HttpStatusCode.Forbidden, noRole.Status);
        Assert.True(noRole.Json.GetProperty("signIn").GetProperty("adminKey").GetBoolean());
        Assert.Empty(app.Http.Failures);
    }

    [SkippableFact]
    public async Task A_signed_in_person_without_an_admin_role_is_told_so_in_words()
    {
        var headers = AdminKeys.Principal("visitor@example.org").ToDictionary(h => h.Key, h => h.Value[0]);
        await using var browser = await app.OpenAsync(nameof(A_signed_in_person_without_an_admin_role_is_told_so_in_words), headers: headers);
        await browser.Page.GotoAsync("/api/console/");

        await Expect(browser.Page.Locator("#message")).ToContainTextAsync("Not allowed: This action needs the organiser role.");
        // Another account is the way forward, so the page offers to sign out of this one.
        await Expect(browser.Page.Locator("#no-role-sign-out")).ToHaveAttributeAsync("href", "/.auth/logout?post_logout_redirect_uri=/api/console/");
        await browser.ScreenshotAsync("console-error-403");
        browser.AssertNoErrors();
    }
}
