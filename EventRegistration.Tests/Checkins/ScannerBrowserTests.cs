using System.Security.Cryptography;
using System.Text;
using EventRegistration.Functions.Checkins;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Infrastructure.Browser;
using Microsoft.Playwright;
using QRCoder;

namespace EventRegistration.Tests.Checkins;

/// <summary>
/// The app on 127.0.0.1 with a headless Chromium whose camera is a video of one real ticket's QR
/// code, generated here: the ticket is signed with the app's key for ids fixed before the browser
/// starts, and its registration is written as a confirmation leaves it.
/// </summary>
public abstract class ScannerBrowserApp : BrowserApp
{
    protected ScannerBrowserApp()
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(TestTicketKey.PrivateKeyPem);
        Token = TicketToken.Create(RegistrationId, EventId, key);
        VideoPath = Path.Combine(Path.GetTempPath(), $"ticket-qr-{RegistrationId:N}.y4m");
        FakeCamera.WriteQrVideo(VideoPath, Token);
    }

    public Guid EventId { get; } = Guid.NewGuid();
    public Guid RegistrationId { get; } = Guid.NewGuid();
    public string Token { get; }
    public string VideoPath { get; }
    public string ScannerKey { get; } = ScannerKeys.Create();
    public string MemberName => "Priya Raman";

    protected override IEnumerable<string> BrowserArgs =>
        ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", $"--use-file-for-fake-video-capture={VideoPath}"];

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        var memberId = Guid.NewGuid();
        var paymentId = "pay_Q" + RegistrationId.ToString("N")[..16];
        await ExecuteAsync("""
            insert into events (id, title, starts_at, venue, capacity, price_paise, currency, status)
            values (@EventId, 'Annual meet', now() + interval '1 day', 'Hall', 100, 50000, 'INR', 'open');
            insert into members (id, name, phone_e164) values (@memberId, @MemberName, '+919812300000');
            insert into event_registrations (id, event_id, member_id, status, payment_id, amount_paise, currency, paid_at, confirmed_by)
            values (@RegistrationId, @EventId, @memberId, 'paid', @paymentId, 50000, 'INR', now(), 'checkout');
            insert into payments (payment_id, registration_id, amount_paise, currency, status, disposition, source)
            values (@paymentId, @RegistrationId, 50000, 'INR', 'captured', 'applied', 'checkout');
            insert into ticket_deliveries (registration_id, status) values (@RegistrationId, 'queued');
            update events set attendee_count = 1 where id = @EventId;
            insert into scanner_keys (id, event_id, name, key_hash, created_at, created_by)
            values (gen_random_uuid(), @EventId, 'Phone', @hash, now(), 'test');
            """, new { EventId, memberId, MemberName, RegistrationId, paymentId, hash = ScannerKeys.Hash(ScannerKey) });
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        File.Delete(VideoPath);
    }

    public string SetupLink(string scanner) => $"/api/checkins/scanner/#event={EventId}&key={Uri.EscapeDataString(ScannerKey)}&scanner={scanner}";
}

public sealed class OnlineScannerApp : ScannerBrowserApp;

public sealed class OfflineScannerApp : ScannerBrowserApp;

public sealed class RefundingScannerApp : ScannerBrowserApp;

public sealed class ScannerOnlineBrowserTests(OnlineScannerApp app) : IClassFixture<OnlineScannerApp>
{
    [SkippableFact]
    public async Task The_camera_scan_admits_with_the_name_and_the_next_scan_of_that_ticket_is_refused()
    {
        await using var browser = await app.OpenAsync(nameof(The_camera_scan_admits_with_the_name_and_the_next_scan_of_that_ticket_is_refused), BrowserPage.Phone);
        var page = browser.Page;
        await page.GotoAsync(app.SetupLink("north"));
        await page.WaitForSelectorAsync("body[data-kit-version]");
        Assert.Equal("Annual meet", await page.TextContentAsync("#event"));
        await page.ClickAsync("#start");

        await page.WaitForSelectorAsync("#result.admit:not([hidden])");
        Assert.Equal(app.MemberName, await page.TextContentAsync("#name"));
        await browser.ScreenshotAsync("scanner-admitted");
        Assert.Equal("jsQR", await page.GetAttributeAsync("body", "data-decoder"));

        // The QR is still in front of the camera: once the answer has gone, the next scan is refused.
        await page.WaitForSelectorAsync("#result.refuse:not([hidden])", new() { Timeout = 20_000 });
        Assert.Contains("Already admitted", await page.TextContentAsync("#detail"));
        Assert.Contains("north", await page.TextContentAsync("#detail"));
        await browser.ScreenshotAsync("scanner-already-admitted");

        var admissions = await app.QueryAsync<(string ScannerId, string Source)>(
            "select scanner_id, source from checkins where registration_id = @RegistrationId", new { app.RegistrationId });
        Assert.Equal(("north", "online"), Assert.Single(admissions));
        Assert.True(await app.ScalarAsync<long>("select count(*) from checkin_scans where registration_id = @RegistrationId and outcome = 'already_admitted'",
            new { app.RegistrationId }) >= 1);
        // The key reached the page through the link's fragment, and the page took it off the address bar.
        Assert.DoesNotContain("key=", page.Url);
        browser.AssertNoErrors();
        Assert.Empty(app.Http.Failures);
        await app.AssertAllAsync();
    }
}

public sealed class ScannerOfflineBrowserTests(OfflineScannerApp app) : IClassFixture<OfflineScannerApp>
{
    [SkippableFact]
    public async Task Offline_the_page_admits_from_the_kit_queues_the_scan_and_uploads_it_when_the_network_returns()
    {
        await using var browser = await app.OpenAsync(nameof(Offline_the_page_admits_from_the_kit_queues_the_scan_and_uploads_it_when_the_network_returns), BrowserPage.Phone);
        var page = browser.Page;
        await page.GotoAsync(app.SetupLink("south"));
        await page.WaitForSelectorAsync("body[data-kit-version]");

        await page.Context.SetOfflineAsync(true);
        await page.WaitForSelectorAsync("#network.offline");
        await page.ClickAsync("#start");

        // Verified with WebCrypto against the kit, answered at once, kept in IndexedDB.
        await page.WaitForSelectorAsync("#result.admit:not([hidden])");
        Assert.Equal(app.MemberName, await page.TextContentAsync("#name"));
        Assert.Contains("offline", await page.TextContentAsync("#detail"));
        await page.WaitForSelectorAsync("#queued[data-count='1']");
        await browser.ScreenshotAsync("scanner-offline-queued");
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from checkins where registration_id = @RegistrationId", new { app.RegistrationId }));

        // The same ticket again, still offline: the page knows it let this one in.
        await page.WaitForSelectorAsync("#result.refuse:not([hidden])", new() { Timeout = 20_000 });
        Assert.Contains("Already admitted", await page.TextContentAsync("#detail"));

        await page.Context.SetOfflineAsync(false);
        await page.WaitForSelectorAsync("#queued[data-count='0']", new() { Timeout = 20_000 });
        await page.WaitForSelectorAsync("body[data-uploaded='1']");
        await browser.ScreenshotAsync("scanner-uploaded");

        var admission = (await app.QueryAsync<(string ScannerId, string Source)>(
            "select scanner_id, source from checkins where registration_id = @RegistrationId", new { app.RegistrationId })).Single();
        Assert.Equal(("south", "offline"), admission);
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from checkin_scans where registration_id = @RegistrationId and source = 'offline'",
            new { app.RegistrationId }));
        browser.AssertNoErrors();
        Assert.Empty(app.Http.Failures);
        await app.AssertAllAsync();
    }
}

public sealed class ScannerRefundBrowserTests(RefundingScannerApp app) : IClassFixture<RefundingScannerApp>
{
    [SkippableFact]
    public async Task A_ticket_whose_refund_an_operator_asked_for_is_refused_offline_from_the_kit_and_online_by_the_server()
    {
        // The seat is still paid: only the payment's refund is owed.
        Assert.Equal(202, (await EventRegistration.Tests.Admin.AdminOperatorCalls.RefundRegistrationAsync(app, app.RegistrationId)).Status);
        await using var browser = await app.OpenAsync(nameof(A_ticket_whose_refund_an_operator_asked_for_is_refused_offline_from_the_kit_and_online_by_the_server), BrowserPage.Phone);
        var page = browser.Page;
        await page.GotoAsync(app.SetupLink("east"));
        await page.WaitForSelectorAsync("body[data-kit-version]");

        await page.Context.SetOfflineAsync(true);
        await page.WaitForSelectorAsync("#network.offline");
        await page.ClickAsync("#start");
        await page.WaitForSelectorAsync("#result.refuse:not([hidden])");
        Assert.Equal("Ticket being refunded", await page.TextContentAsync("#detail"));
        Assert.Equal(app.MemberName, await page.TextContentAsync("#name"));
        await browser.ScreenshotAsync("scanner-refund-offline");
        await page.WaitForSelectorAsync("#result[hidden]", new() { State = WaitForSelectorState.Attached });

        await page.Context.SetOfflineAsync(false);
        await page.WaitForSelectorAsync("#network.online");
        var online = await page.WaitForResponseAsync(r => r.Url.EndsWith("/api/checkins/", StringComparison.Ordinal) && r.Request.Method == "POST", new() { Timeout = 20_000 });
        Assert.Equal(409, online.Status);
        await page.WaitForSelectorAsync("#result.refuse:not([hidden])");
        Assert.Equal("Ticket being refunded", await page.TextContentAsync("#detail"));
        await browser.ScreenshotAsync("scanner-refund-online");

        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from checkins where registration_id = @RegistrationId", new { app.RegistrationId }));
        Assert.Equal(0, await page.EvaluateAsync<int>("Number(document.getElementById('queued').dataset.count)"));
        browser.AssertNoErrors();
        Assert.Empty(app.Http.Failures);
        await app.AssertAllAsync();
    }
}

/// <summary>A Y4M video (what Chromium's fake camera plays, looping) of a QR code on white.</summary>
public static class FakeCamera
{
    public static void WriteQrVideo(string path, string text, int width = 640, int height = 480, int frames = 10)
    {
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(text, QRCodeGenerator.ECCLevel.M);
        var modules = data.ModuleMatrix;
        var size = modules.Count;
        var scale = Math.Min(width, height) * 9 / 10 / size;
        var left = (width - size * scale) / 2;
        var top = (height - size * scale) / 2;

        // Video-range luma: 16 black, 235 white; chroma 128 (grey).
        var luma = new byte[width * height];
        Array.Fill(luma, (byte)235);
        for (var row = 0; row < size; row++)
        {
            for (var column = 0; column < size; column++)
            {
                if (!modules[row][column])
                {
                    continue;
                }

                for (var y = 0; y < scale; y++)
                {
                    Array.Fill(luma, (byte)16, (top + row * scale + y) * width + left + column * scale, scale);
                }
            }
        }

        var chroma = new byte[width / 2 * (height / 2)];
        Array.Fill(chroma, (byte)128);
        using var file = File.Create(path);
        file.Write(Encoding.ASCII.GetBytes($"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n"));
        for (var i = 0; i < frames; i++)
        {
            file.Write("FRAME\n"u8);
            file.Write(luma);
            file.Write(chroma);
            file.Write(chroma);
        }
    }
}
