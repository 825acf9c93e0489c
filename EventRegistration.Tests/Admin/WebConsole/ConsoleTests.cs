using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Infrastructure.Browser;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace EventRegistration.Tests.Admin.WebConsole;

/// <summary>The console's pages driven in headless Chromium against the app on a real port, with a screenshot of each.</summary>
public sealed class ConsoleTests(BrowserApp app) : IClassFixture<BrowserApp>
{
    [SkippableFact]
    public async Task An_organiser_creates_an_event_and_sees_it_with_its_seats()
    {
        await using var browser = await app.OpenSignedInAsync(nameof(An_organiser_creates_an_event_and_sees_it_with_its_seats), "#/events", AdminKeys.Organiser);
        var page = browser.Page;
        await page.GetByRole(AriaRole.Link, new() { Name = "New event" }).ClickAsync();
        await page.GetByLabel("Title").FillAsync("Founders' dinner");
        await page.GetByLabel("Starts at").FillAsync("2026-12-31T18:30");
        await page.GetByLabel("Time zone").FillAsync("Asia/Kolkata");
        await page.GetByLabel("Venue", new() { Exact = true }).FillAsync("Town hall, Pune");
        await page.GetByLabel("Capacity").FillAsync("120");
        await page.GetByLabel("Price (INR)").FillAsync("499.50");
        await page.GetByLabel("Status").SelectOptionAsync("open");
        await browser.ScreenshotAsync("console-event-form");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create event" }).ClickAsync();

        await Expect(browser.Message()).ToContainTextAsync("Created “Founders' dinner”");
        var card = page.Locator("#events li", new() { HasText = "Founders' dinner" });
        await Expect(card).ToContainTextAsync("0 paid · 0 held · 120 free of 120");
        await Expect(card).ToContainTextAsync("₹499.50");
        await browser.ScreenshotAsync("console-event-created");

        // What was stored: the wall-clock time in the venue's zone, the price in paise.
        var stored = (await app.QueryAsync<(DateTime StartsAt, long PricePaise, int Capacity, string Status)>(
            "select starts_at, price_paise, capacity, status from events where title = 'Founders'' dinner'")).Single();
        Assert.Equal(new DateTime(2026, 12, 31, 13, 0, 0), stored.StartsAt.ToUniversalTime());
        Assert.Equal(49_950, stored.PricePaise);
        Assert.Equal((120, "open"), (stored.Capacity, stored.Status));
        browser.AssertNoErrors();
        Assert.Empty(app.Http.Failures);
    }

    [SkippableFact]
    public async Task A_value_the_API_refuses_is_shown_with_its_field_and_nothing_is_created()
    {
        await using var browser = await app.OpenSignedInAsync(nameof(A_value_the_API_refuses_is_shown_with_its_field_and_nothing_is_created), "#/events/new", AdminKeys.Organiser);
        var page = browser.Page;
        await page.GetByLabel("Title").FillAsync("Moon landing party");
        await page.GetByLabel("Starts at").FillAsync("2026-12-31T18:30");
        await page.GetByLabel("Price (INR)").FillAsync("12.345");
        var answer = page.WaitForResponseAsync(r => r.Url.EndsWith("/api/admin/events", StringComparison.Ordinal) && r.Request.Method == "POST");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create event" }).ClickAsync();

        // The API's 400 problem+json, in words, with the field marked.
        Assert.Equal(400, (await answer).Status);
        await Expect(browser.Message()).ToContainTextAsync("Invalid field");
        await Expect(browser.Message()).ToContainTextAsync("(field: pricePaise)");
        await Expect(page.GetByLabel("Price (INR)")).ToHaveAttributeAsync("aria-invalid", "true");
        await browser.ScreenshotAsync("console-error-400");

        // A zone no browser knows is refused before it is sent, in the same words.
        await page.GetByLabel("Price (INR)").FillAsync("500");
        await page.GetByLabel("Time zone").FillAsync("Mars/Olympus_Mons");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create event" }).ClickAsync();
        await Expect(browser.Message()).ToContainTextAsync("'Mars/Olympus_Mons' is not a time zone");
        await Expect(page.GetByLabel("Time zone")).ToHaveAttributeAsync("aria-invalid", "true");
        await Expect(page.GetByLabel("Price (INR)")).Not.ToHaveAttributeAsync("aria-invalid", "true");
        Assert.Equal(0L, await app.ScalarAsync<long>("select count(*) from events where title = 'Moon landing party'"));
        browser.AssertNoErrors();
    }

    [SkippableFact]
    public async Task Lowering_capacity_below_the_seats_taken_shows_the_APIs_409_in_words()
    {
        var eventId = await app.CreateEventAsync(capacity: 10);
        await app.PaidOverHttpAsync(eventId, "Ravi Kumar");
        await app.PaidOverHttpAsync(eventId, "Meena Iyer");

        await using var browser = await app.OpenSignedInAsync(nameof(Lowering_capacity_below_the_seats_taken_shows_the_APIs_409_in_words), $"#/events/{eventId}/edit", AdminKeys.Organiser);
        await browser.Page.GetByLabel("Capacity").FillAsync("1");
        await browser.Page.GetByRole(AriaRole.Button, new() { Name = "Save changes" }).ClickAsync();

        await Expect(browser.Message()).ToContainTextAsync("Capacity below seats taken: The capacity cannot be lower than the 2 seats taken: 2 paid and 0 held");
        await browser.ScreenshotAsync("console-error-409");
        Assert.Equal(10, await app.ScalarAsync<int>("select capacity from events where id = @eventId", new { eventId }));
        browser.AssertNoErrors();
    }

    [SkippableFact]
    public async Task A_lost_connection_is_shown_as_words_and_the_page_stays_usable()
    {
        await using var browser = await app.OpenSignedInAsync(nameof(A_lost_connection_is_shown_as_words_and_the_page_stays_usable), "#/events/new", AdminKeys.Organiser);
        var page = browser.Page;
        await Expect(page.GetByLabel("Title")).ToBeVisibleAsync();
        await page.RouteAsync("**/api/admin/**", route => route.AbortAsync("internetdisconnected"));
        await page.GetByLabel("Title").FillAsync("Offline gala");
        await page.GetByLabel("Starts at").FillAsync("2026-12-31T18:30");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create event" }).ClickAsync();

        await Expect(browser.Message()).ToContainTextAsync("Could not reach the server");
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Create event" })).ToBeEnabledAsync();
        await browser.ScreenshotAsync("console-error-network");

        // Back online, the same form goes through.
        await page.UnrouteAllAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Create event" }).ClickAsync();
        await Expect(browser.Message()).ToContainTextAsync("Created “Offline gala”");
        browser.AssertNoErrors();
    }

    [SkippableFact]
    public async Task A_paid_registration_appears_on_the_open_attendees_page()
    {
        var eventId = await app.CreateEventAsync(capacity: 50);
        await using var browser = await app.OpenSignedInAsync(nameof(A_paid_registration_appears_on_the_open_attendees_page), $"#/events/{eventId}/attendees", AdminKeys.Organiser);
        var page = browser.Page;
        await Expect(page.Locator("#attendee-summary")).ToHaveTextAsync("0 registrations.");

        // While the page is open: an order over HTTP, then Razorpay's webhook for its payment.
        var (registrationId, _, paymentId) = await app.PaidOverHttpAsync(eventId, "Lakshmi Narayanan");

        var row = page.Locator($"#attendees tr[data-registration-id='{registrationId}']");
        await Expect(row).ToContainTextAsync("Lakshmi Narayanan", new() { Timeout = 20_000 });
        await Expect(row).ToContainTextAsync("paid");
        await Expect(row).ToContainTextAsync(paymentId);
        await Expect(page.Locator("#load-more")).ToBeHiddenAsync();
        await browser.ScreenshotAsync("console-attendees");

        // The download is the API's CSV, byte for byte: its byte order mark kept for spreadsheets.
        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByRole(AriaRole.Button, new() { Name = "Download CSV" }).ClickAsync());
        var bytes = await File.ReadAllBytesAsync((await download.PathAsync())!);
        Assert.Equal(new byte[] { 0xEF, 0xBB, 0xBF }, bytes[..3]);
        Assert.Contains("Lakshmi Narayanan", System.Text.Encoding.UTF8.GetString(bytes), StringComparison.Ordinal);
        Assert.EndsWith(".csv", download.SuggestedFilename, StringComparison.Ordinal);

        // Search narrows the rows loaded; the status filter asks the API.
        await app.OrderOverHttpAsync(eventId, await app.CreateMemberAsync("+919800011122", "Zubin Shah"));
        await Expect(page.Locator("#attendees tbody tr")).ToHaveCountAsync(2, new() { Timeout = 20_000 });
        await page.GetByLabel("Search").FillAsync("laksh");
        await Expect(page.Locator("#attendees tbody tr")).ToHaveCountAsync(1);
        await page.GetByLabel("Search").FillAsync("");
        await page.GetByLabel("Status").SelectOptionAsync("pending");
        await Expect(page.Locator("#attendees tbody tr")).ToHaveCountAsync(1);
        await Expect(page.Locator("#attendees tbody tr")).ToContainTextAsync("Zubin Shah");
        browser.AssertNoErrors();
        Assert.Empty(app.Http.Failures);
    }

    [SkippableFact]
    public async Task The_events_and_attendees_pages_fit_a_phone()
    {
        var eventId = await app.CreateEventAsync(capacity: 30);
        await app.PaidOverHttpAsync(eventId, "Priya Venkataraman");
        await using var browser = await app.OpenSignedInAsync(nameof(The_events_and_attendees_pages_fit_a_phone), "#/events", AdminKeys.Organiser, BrowserPage.Phone);
        var page = browser.Page;
        await Expect(page.Locator($"#events li[data-event-id='{eventId}']")).ToContainTextAsync("1 paid");
        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"), "The events page scrolls sideways on a phone.");
        await browser.ScreenshotAsync("console-phone-events");

        await page.Locator($"#events li[data-event-id='{eventId}']").GetByRole(AriaRole.Link, new() { Name = "Attendees" }).ClickAsync();
        await Expect(page.Locator("#attendees tbody tr")).ToContainTextAsync("Priya Venkataraman");
        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"), "The attendees page scrolls sideways on a phone.");
        await browser.ScreenshotAsync("console-phone-attendees");
        browser.AssertNoErrors();
    }

    [SkippableFact]
    public async Task An_operator_looks_up_a_registration_by_payment_id_and_reads_its_history()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, orderId, paymentId) = await app.PaidOverHttpAsync(eventId, "Farhan Qureshi");
        await using var browser = await app.OpenSignedInAsync(nameof(An_operator_looks_up_a_registration_by_payment_id_and_reads_its_history), "#/lookup");
        var page = browser.Page;
        await page.GetByLabel("Look up by").SelectOptionAsync("paymentId");
        await page.GetByLabel("Value").FillAsync(paymentId);
        await page.GetByRole(AriaRole.Button, new() { Name = "Look up" }).ClickAsync();

        var result = page.Locator("#lookup-result");
        await Expect(result).ToContainTextAsync($"Registration {registrationId}");
        await Expect(result).ToContainTextAsync(orderId);
        await Expect(page.Locator("#history li[data-what='order_created']")).ToHaveCountAsync(1);
        await Expect(page.Locator("#history li[data-what='paid']")).ToHaveCountAsync(1);
        await browser.ScreenshotAsync("console-lookup");

        // An id no registration has: the API's 404, in words.
        await page.GetByLabel("Look up by").SelectOptionAsync("orderId");
        await page.GetByLabel("Value").FillAsync("order_NoSuchOrder01");
        await page.GetByRole(AriaRole.Button, new() { Name = "Look up" }).ClickAsync();
        await Expect(browser.Message()).ToContainTextAsync("Registration not found");
        browser.AssertNoErrors();
    }

    [SkippableFact]
    public async Task An_operator_resolves_an_anomaly_with_a_note_and_a_second_resolution_is_refused_in_words()
    {
        var eventId = await app.CreateEventAsync();
        long first, second;
        await using (var connection = app.OpenConnection())
        {
            await AnomalyLog.RecordAsync(connection, null, new Anomaly(AnomalyKind.RefundFailed, "Refund rfnd_T1 failed at the bank", eventId, null, "pay_TConsole0001"), DateTime.UtcNow);
            first = await connection.ExecuteScalarAsync<long>("select max(id) from anomalies");
            await AnomalyLog.RecordAsync(connection, null, new Anomaly(AnomalyKind.CountDrift, "attendee_count 3, paid registrations 2", eventId), DateTime.UtcNow);
            second = await connection.ExecuteScalarAsync<long>("select max(id) from anomalies");
        }

        await using var browser = await app.OpenSignedInAsync(nameof(An_operator_resolves_an_anomaly_with_a_note_and_a_second_resolution_is_refused_in_words), "#/anomalies");
        var page = browser.Page;
        var card = page.Locator($"#anomalies li[data-anomaly-id='{first}']");
        await Expect(card).ToContainTextAsync("Refund rfnd_T1 failed at the bank");
        await browser.ScreenshotAsync("console-anomalies");
        await card.GetByLabel("Note").FillAsync("Refunded by bank transfer, UTR 1234");
        await card.GetByRole(AriaRole.Button, new() { Name = "Resolve" }).ClickAsync();
        await Expect(browser.Message()).ToContainTextAsync("Resolved (refund failed)");
        await Expect(card).ToHaveCountAsync(0);
        var resolved = (await app.QueryAsync<(DateTime? ResolvedAt, string? Note)>(
            "select resolved_at, resolution_note from anomalies where id = @first", new { first })).Single();
        Assert.NotNull(resolved.ResolvedAt);
        Assert.Equal("Refunded by bank transfer, UTR 1234", resolved.Note);

        // Someone else resolves the other one while this page shows it: 409, in words.
        var other = page.Locator($"#anomalies li[data-anomaly-id='{second}']");
        Assert.Equal(200, (await app.ResolveAnomalyAsync(second.ToString(), """{"note":"seen elsewhere"}""")).Status);
        await other.GetByLabel("Note").FillAsync("Counter checked");
        await other.GetByRole(AriaRole.Button, new() { Name = "Resolve" }).ClickAsync();
        await Expect(browser.Message()).ToContainTextAsync("Anomaly already resolved");
        await browser.ScreenshotAsync("console-anomaly-409");
        Assert.Equal("seen elsewhere", await app.ScalarAsync<string>("select resolution_note from anomalies where id = @second", new { second }));
        browser.AssertNoErrors();
    }

    [SkippableFact]
    public async Task An_organiser_imports_members_from_a_file_and_reads_the_rows_that_need_fixing()
    {
        var (anita, karthik, bad) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var csv = "memberId,name,whatsApp,email\n"
                  + $"{anita},\"Sharma, Anita\",+91 98123 45678,anita@example.org\n"
                  + $"{karthik},கார்த்திக்,+919812345679,\n"
                  + $"{bad},Broken Number,12345,bad@example.org\n";
        var file = Path.Combine(Path.GetTempPath(), $"members-{Guid.NewGuid():N}.csv");
        await File.WriteAllTextAsync(file, csv);

        await using var browser = await app.OpenSignedInAsync(nameof(An_organiser_imports_members_from_a_file_and_reads_the_rows_that_need_fixing), "#/members", AdminKeys.Organiser);
        var page = browser.Page;
        await page.GetByLabel("File").SetInputFilesAsync(file);
        await page.GetByRole(AriaRole.Button, new() { Name = "Import" }).ClickAsync();

        var counts = page.Locator("#import-counts");
        await Expect(counts).ToContainTextAsync("inserted2");
        await Expect(counts).ToContainTextAsync("failed1");
        var errors = page.Locator("#import-errors tbody tr");
        await Expect(errors).ToHaveCountAsync(1);
        await Expect(errors).ToContainTextAsync("4");
        await Expect(errors).ToContainTextAsync("whatsApp");
        await Expect(page.Locator("#import-result")).Not.ToContainTextAsync("null");
        await browser.ScreenshotAsync("console-import");

        Assert.Equal("Sharma, Anita", await app.ScalarAsync<string>("select name from members where id = @anita", new { anita }));
        Assert.Equal("+919812345679", await app.ScalarAsync<string>("select phone_e164 from members where id = @karthik", new { karthik }));
        Assert.Equal(0L, await app.ScalarAsync<long>("select count(*) from members where id = @bad", new { bad }));

        // The same file again changes nothing.
        await page.GetByRole(AriaRole.Button, new() { Name = "Import" }).ClickAsync();
        await Expect(counts).ToContainTextAsync("unchanged2");
        browser.AssertNoErrors();
        File.Delete(file);
    }

    [SkippableFact]
    public async Task Attendees_beyond_the_first_page_come_with_load_more_and_stay_through_the_refresh()
    {
        var eventId = await app.CreateEventAsync(capacity: null);
        for (var i = 0; i < 103; i++)
        {
            await app.OrderAsync(eventId, await app.CreateMemberAsync($"+91981{i:D7}", $"Member {i:D3}"));
        }

        await using var browser = await app.OpenSignedInAsync(nameof(Attendees_beyond_the_first_page_come_with_load_more_and_stay_through_the_refresh), $"#/events/{eventId}/attendees", AdminKeys.Organiser);
        var page = browser.Page;
        await Expect(page.Locator("#attendees tbody tr")).ToHaveCountAsync(100);
        await Expect(page.Locator("#attendee-summary")).ToHaveTextAsync("100 registrations loaded so far.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Load more" }).ClickAsync();
        await Expect(page.Locator("#attendees tbody tr")).ToHaveCountAsync(103);
        await Expect(page.Locator("#load-more")).ToBeHiddenAsync();

        // The 5-second refresh reloads as many rows as are shown, not just the first page.
        await page.WaitForResponseAsync(r => r.Url.Contains("/attendees?limit=103", StringComparison.Ordinal), new() { Timeout = 15_000 });
        await Expect(page.Locator("#attendees tbody tr")).ToHaveCountAsync(103);
        browser.AssertNoErrors();
    }
}
