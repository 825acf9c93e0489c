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
        browser.AssertNoErrors();
    }

    [SkippableFact]
    public async Task A_signed_in_person_without_an_admin_role_is_told_so_in_words()
    {
        var headers = AdminKeys.Principal("visitor@example.org").ToDictionary(h => h.Key, h => h.Value[0]);
        await using var browser = await app.OpenAsync(nameof(A_signed_in_person_without_an_admin_role_is_told_so_in_words), headers: headers);
        await browser.Page.GotoAsync("/api/console/");

        await Expect(browser.Page.Locator("#message")).ToContainTextAsync("Not allowed: This action needs the organiser role.");
        await browser.ScreenshotAsync("console-error-403");
        browser.AssertNoErrors();
    }
}
