using EventRegistration.Tests.Infrastructure.Browser;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace EventRegistration.Tests.Admin.WebConsole;

/// <summary>
/// README's walkthrough, "how an organiser sets up their first event", played in the browser on an
/// empty app. Its screenshots (walkthrough-*.png) are the ones in docs/images/. Latin names only:
/// a machine without Indic fonts would draw Tamil or Devanagari as boxes in the README's pictures
/// (ConsoleTests imports those scripts).
/// </summary>
public sealed class FirstEventWalkthroughTests(BrowserApp app) : IClassFixture<BrowserApp>
{
    [SkippableFact]
    public async Task An_organiser_sets_up_their_first_event_and_sees_the_first_payment_arrive()
    {
        await using var browser = await app.OpenAsync(nameof(An_organiser_sets_up_their_first_event_and_sees_the_first_payment_arrive));
        var page = browser.Page;

        // 1. Sign in with the admin key.
        await page.GotoAsync("/api/console/");
        await page.GetByLabel("Admin key").FillAsync(AdminKeys.Organiser);
        // Without App Service Authentication in front, the key is the only way in.
        await Expect(page.Locator("#sign-in-microsoft")).ToHaveCountAsync(0);
        await browser.ScreenshotAsync("walkthrough-1-sign-in");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.Locator("#events")).ToContainTextAsync("No events yet");

        // 2. Create the event, as a draft first.
        await page.GetByRole(AriaRole.Link, new() { Name = "New event" }).ClickAsync();
        await page.GetByLabel("Title").FillAsync("Diwali get-together 2026");
        await page.GetByLabel("Starts at").FillAsync("2026-12-12T18:30");
        await page.GetByLabel("Time zone").FillAsync("Asia/Kolkata");
        await page.GetByLabel("Venue", new() { Exact = true }).FillAsync("Community hall, Koramangala");
        await page.GetByLabel("Capacity").FillAsync("150");
        await page.GetByLabel("Price (INR)").FillAsync("750");
        await page.GetByLabel("Status").SelectOptionAsync("draft");
        await browser.ScreenshotAsync("walkthrough-2-new-event");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create event" }).ClickAsync();
        var card = page.Locator("#events li", new() { HasText = "Diwali get-together 2026" });
        await Expect(card).ToContainTextAsync("draft");

        // 3. Import the members who may book.
        var (anita, karthik, rahul) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        await page.GetByRole(AriaRole.Link, new() { Name = "Members", Exact = true }).ClickAsync();
        await page.GetByLabel("Or paste the rows").FillAsync(
            "memberId,name,whatsApp,email\n"
            + $"{anita},\"Sharma, Anita\",+91 98123 45678,anita@example.org\n"
            + $"{karthik},Karthik Subramaniam,+919812345679,\n"
            + $"{rahul},Rahul Verma,+91 98123 4,rahul@example.org\n");
        await page.GetByRole(AriaRole.Button, new() { Name = "Import" }).ClickAsync();
        await Expect(page.Locator("#import-errors tbody tr")).ToContainTextAsync("whatsApp");
        await browser.ScreenshotAsync("walkthrough-3-import");

        // 4. Open it for booking.
        await page.GetByRole(AriaRole.Link, new() { Name = "Events", Exact = true }).ClickAsync();
        await card.GetByRole(AriaRole.Link, new() { Name = "Edit" }).ClickAsync();
        await page.GetByLabel("Status").SelectOptionAsync("open");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save changes" }).ClickAsync();
        await Expect(card).ToContainTextAsync("open");
        var eventId = Guid.Parse((await card.GetAttributeAsync("data-event-id"))!);

        // 5. Members book: one pays, one is still paying; the seat bar and the attendees follow.
        var (registrationId, orderId, amount) = await app.OrderOverHttpAsync(eventId, anita);
        var paymentId = await app.CaptureOverHttpAsync(orderId, amount);
        await app.OrderOverHttpAsync(eventId, karthik);
        await page.ReloadAsync();
        await Expect(card).ToContainTextAsync("1 paid · 1 held · 148 free of 150");
        await browser.ScreenshotAsync("walkthrough-4-events");
        await card.GetByRole(AriaRole.Link, new() { Name = "Attendees" }).ClickAsync();
        await Expect(page.Locator($"#attendees tr[data-registration-id='{registrationId}']")).ToContainTextAsync(paymentId);
        await Expect(page.Locator("#attendees tbody tr")).ToHaveCountAsync(2);
        await browser.ScreenshotAsync("walkthrough-5-attendees");

        // The history of a booking and the refund and resend buttons are an operator's: an organiser is not
        // offered them (nor Look-up and Anomalies in the navigation), and opening the look-up anyway is refused in words.
        var row = page.Locator($"#attendees tr[data-registration-id='{registrationId}']");
        await Expect(row.GetByRole(AriaRole.Link, new() { Name = "History" })).ToHaveCountAsync(0);
        await Expect(row.GetByRole(AriaRole.Button, new() { Name = "Refund" })).ToHaveCountAsync(0);
        await Expect(page.Locator("#nav").GetByRole(AriaRole.Link, new() { Name = "Look-up" })).ToBeHiddenAsync();
        await Expect(page.Locator("#nav").GetByRole(AriaRole.Link, new() { Name = "Anomalies" })).ToBeHiddenAsync();
        await Expect(page.Locator("#nav").GetByRole(AriaRole.Link, new() { Name = "Members" })).ToBeVisibleAsync();
        await page.EvaluateAsync($"location.hash = '#/lookup?registrationId={registrationId}'");
        await Expect(page.Locator("#message")).ToContainTextAsync("This action needs the operator role.");
        browser.AssertNoErrors();
        Assert.Empty(app.Http.Failures);
    }
}
