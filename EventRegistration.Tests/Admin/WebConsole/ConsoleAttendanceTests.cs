using EventRegistration.Tests.Checkins;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Infrastructure.Browser;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace EventRegistration.Tests.Admin.WebConsole;

/// <summary>An event's attendance page in headless Chromium: admissions made through the check-in API, read back as the organiser sees them.</summary>
public sealed class ConsoleAttendanceTests(BrowserApp app) : IClassFixture<BrowserApp>
{
    private static readonly TimeZoneInfo Kolkata = TimeZoneInfo.FindSystemTimeZoneById("Asia/Kolkata");

    [SkippableFact]
    public async Task An_organiser_reads_admitted_against_paid_conflicts_and_admissions_by_hour()
    {
        var eventId = await app.CreateEventAsync(capacity: 10);
        var (_, scannerKey) = await app.ScannerKeyAsync(eventId);
        var tickets = new List<Guid>();
        foreach (var name in new[] { "Anil Kapoor", "Bhavna Rao", "Chitra Das", "Dev Malhotra", "Esha Gupta" })
        {
            tickets.Add((await app.PaidOverHttpAsync(eventId, name)).RegistrationId);
        }

        // Offline, yesterday evening in the venue's zone: two admitted in one hour (one of them scanned
        // at both doors: a conflict), one in the next. Then one admitted online now, and the first
        // admitted ticket refunded afterwards. Esha never comes.
        var hour = new DateTimeOffset(2026, 11, 25, 18, 0, 0, TimeSpan.FromHours(5.5));
        var now = app.Clock.GetUtcNow();
        var evening = hour.AddDays(Math.Floor((now - hour).TotalDays) - 1);
        var batch = await app.BatchAsync(scannerKey,
            OfflineCalls.OfflineScan(app.TokenFor(tickets[0], eventId), "north", evening.AddMinutes(5)),
            OfflineCalls.OfflineScan(app.TokenFor(tickets[1], eventId), "north", evening.AddMinutes(20)),
            OfflineCalls.OfflineScan(app.TokenFor(tickets[1], eventId), "south", evening.AddMinutes(25)),
            OfflineCalls.OfflineScan(app.TokenFor(tickets[2], eventId), "south", evening.AddMinutes(70)));
        Assert.True(batch.Status == 200, batch.ToString());
        var online = await app.ScanAsync(scannerKey, app.TokenFor(tickets[3], eventId));
        Assert.True(online.Status == 200, online.ToString());
        await app.RefundThroughLedgerAsync(tickets[0]);
        var onlineAt = await app.ScalarAsync<DateTime>("select admitted_at from checkins where registration_id = @id", new { id = tickets[3] });
        var onlineHour = TimeZoneInfo.ConvertTimeFromUtc(DateTime.SpecifyKind(onlineAt, DateTimeKind.Utc), Kolkata).Hour;

        // From the event's card on the events page, on a phone.
        await using var browser = await app.OpenSignedInAsync(nameof(An_organiser_reads_admitted_against_paid_conflicts_and_admissions_by_hour),
            "#/events", AdminKeys.Organiser, BrowserPage.Phone);
        var page = browser.Page;
        await page.Locator($"#events li[data-event-id='{eventId}']").GetByRole(AriaRole.Link, new() { Name = "Attendance" }).ClickAsync();

        // Paid: Bhavna, Chitra, Dev, Esha (Anil refunded). Admitted: Anil, Bhavna, Chitra, Dev; still paid: three of them.
        await Expect(page.Locator("#attendance-summary")).ToHaveTextAsync("3 of 4 paid admitted · 1 not yet");
        await Expect(page.Locator("#attendance .bar")).ToHaveAttributeAsync("aria-label", "3 of 4 paid admitted, 1 not yet");
        var count = (string name) => page.Locator($"#attendance-counts dd[data-count='{name}']");
        await Expect(count("paid")).ToHaveTextAsync("4");
        await Expect(count("admitted")).ToHaveTextAsync("4");
        await Expect(count("admittedPaid")).ToHaveTextAsync("3");
        await Expect(count("conflicts")).ToHaveTextAsync("1");
        await Expect(page.Locator("#attendance")).ToContainTextAsync("1 admitted ticket was refunded or cancelled afterwards.");

        // By hour, as the venue's clock shows it: yesterday 18:00 (2), 19:00 (1), and this hour (1).
        var rows = page.Locator("#attendance-hours tbody tr");
        await Expect(rows).ToHaveCountAsync(3);
        await Expect(rows.Nth(0).Locator("th")).ToContainTextAsync("18:00–19:00");
        await Expect(rows.Nth(0).Locator("td")).ToHaveTextAsync("2");
        await Expect(rows.Nth(1).Locator("th")).ToContainTextAsync("19:00–20:00");
        await Expect(rows.Nth(1).Locator("td")).ToHaveTextAsync("1");
        await Expect(rows.Nth(2).Locator("th")).ToContainTextAsync($"{onlineHour:00}:00–{(onlineHour + 1) % 24:00}:00");
        await Expect(rows.Nth(2).Locator("td")).ToHaveTextAsync("1");
        // The busiest hour's bar is the full width; a one-admission hour's is half of it.
        var widths = await rows.Locator(".fill").EvaluateAllAsync<string[]>("spans => spans.map((s) => s.style.width)");
        Assert.Equal(["100%", "50%", "50%"], widths);

        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"), "The attendance page scrolls sideways on a phone.");
        await browser.ScreenshotAsync("console-attendance");

        // The attendees page shows each admission: when (the venue's clock) and by which scanner; Esha's stays empty.
        await page.EvaluateAsync($"location.hash = '#/events/{eventId}/attendees'");
        var attendee = (Guid id) => page.Locator($"#attendees tr[data-registration-id='{id}']");
        await Expect(attendee(tickets[1]).Locator(".admitted-by")).ToHaveTextAsync("north");
        await Expect(attendee(tickets[1]).Locator(".admitted-at")).ToContainTextAsync("6:20");
        await Expect(attendee(tickets[2]).Locator(".admitted-by")).ToHaveTextAsync("south");
        await Expect(attendee(tickets[2]).Locator(".admitted-at")).ToContainTextAsync("7:10");
        await Expect(attendee(tickets[3]).Locator(".admitted-by")).ToHaveTextAsync("door-1");
        await Expect(attendee(tickets[4]).Locator(".admitted-at")).ToHaveTextAsync("—");
        await Expect(attendee(tickets[4]).Locator(".admitted-by")).ToHaveTextAsync("—");
        await Expect(attendee(tickets[0]).Locator(".admitted-by")).ToHaveTextAsync("north");
        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"), "The attendees page scrolls sideways on a phone.");
        await browser.ScreenshotAsync("console-attendees-admitted");
        browser.AssertNoErrors();
        Assert.Empty(app.Http.Failures);
        await app.AssertAllAsync();
    }

    [SkippableFact]
    public async Task An_event_no_one_has_scanned_yet_and_the_APIs_refusals_are_shown_in_words()
    {
        var eventId = await app.CreateEventAsync(capacity: 10);
        await app.PaidOverHttpAsync(eventId, "Gita Sen");
        await using var browser = await app.OpenSignedInAsync(nameof(An_event_no_one_has_scanned_yet_and_the_APIs_refusals_are_shown_in_words),
            $"#/events/{eventId}/attendance", AdminKeys.Organiser);
        var page = browser.Page;
        await Expect(page.Locator("#attendance-summary")).ToHaveTextAsync("0 of 1 paid admitted · 1 not yet");
        await Expect(page.Locator("#attendance-hours")).ToHaveTextAsync("No one admitted yet.");

        // An event that does not exist: the API's 404 in its words.
        await page.EvaluateAsync($"location.hash = '#/events/{Guid.NewGuid()}/attendance'");
        await Expect(browser.Message()).ToContainTextAsync("Event not found: No event has this id.");
        await Expect(page.Locator("#main")).ToContainTextAsync("This page could not be loaded.");
        browser.AssertNoErrors();
    }
}
