using System.Collections.Concurrent;
using Microsoft.Playwright;

namespace EventRegistration.Tests.Infrastructure.Browser;

/// <summary>
/// A <see cref="TestApp"/> served over HTTP on 127.0.0.1 (<see cref="FunctionsHttpHost"/>) with
/// a headless Chromium to drive it. Use it as a class fixture; each test opens its own
/// <see cref="BrowserPage"/> (a fresh browser context: no shared storage or cookies) from a
/// [SkippableFact], so a missing chromium follows <see cref="Chromium"/>'s rule.
/// </summary>
public class BrowserApp : TestApp
{
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public FunctionsHttpHost Http { get; private set; } = null!;

    /// <summary>Chromium flags a fixture adds (a fake camera, for instance).</summary>
    protected virtual IEnumerable<string> BrowserArgs => [];

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Http = await FunctionsHttpHost.StartAsync(Services);
        if (Chromium.IsInstalled)
        {
            _playwright = await Playwright.CreateAsync();
            _browser = await Chromium.LaunchAsync(_playwright, BrowserArgs);
        }
    }

    /// <summary>
    /// A new page in its own browser context. <paramref name="viewport"/> defaults to a laptop;
    /// pass <see cref="BrowserPage.Phone"/> for a phone. Extra headers go with every request the
    /// page makes (as a platform in front of the app would add them).
    /// </summary>
    public async Task<BrowserPage> OpenAsync(string testName, ViewportSize? viewport = null, IDictionary<string, string>? headers = null)
    {
        Chromium.SkipOrFailWhenMissing();
        var phone = viewport is { Width: < 600 };
        var context = await _browser!.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = Http.BaseUrl,
            ViewportSize = viewport ?? new ViewportSize { Width = 1280, Height = 860 },
            IsMobile = phone,
            HasTouch = phone,
            DeviceScaleFactor = 1,
            Locale = "en-IN",
            TimezoneId = "Asia/Kolkata",
            ExtraHTTPHeaders = headers,
        });
        var page = await context.NewPageAsync();
        // Waits, not timings: a whole suite on a shared two-core machine can take seconds to answer
        // a page, and an expectation should fail only when the thing never happens.
        page.SetDefaultTimeout(20_000);
        Assertions.SetDefaultExpectTimeout(20_000);
        return new BrowserPage(testName, context, page);
    }

    public override async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (Http is not null)
        {
            await Http.DisposeAsync();
        }

        await base.DisposeAsync();
    }
}

/// <summary>
/// One page under test: records what the page reports as broken (uncaught errors, console
/// errors such as a Content-Security-Policy refusal, failed requests) and saves screenshots
/// under the test output (<see cref="Screenshots.Directory"/>).
/// </summary>
public sealed class BrowserPage : IAsyncDisposable
{
    public static readonly ViewportSize Phone = new() { Width = 390, Height = 844 };

    private readonly ConcurrentQueue<string> _errors = new();
    private readonly IBrowserContext _context;

    public BrowserPage(string testName, IBrowserContext context, IPage page)
    {
        TestName = testName;
        _context = context;
        Page = page;
        page.PageError += (_, error) => _errors.Enqueue("page error: " + error);
        page.Console += (_, message) =>
        {
            // Chromium logs every 4xx/5xx answer as "Failed to load resource"; the API's refusals
            // are part of the page's flow (it shows them), so only other errors count here.
            if (message.Type == "error" && !message.Text.StartsWith("Failed to load resource", StringComparison.Ordinal))
            {
                _errors.Enqueue("console error: " + message.Text);
            }
        };
        page.Response += (_, response) =>
        {
            // A page's own file (script, style, image) that is missing is a broken page.
            if (response.Status >= 400 && response.Request.ResourceType is "script" or "stylesheet" or "image" or "font" or "document")
            {
                _errors.Enqueue($"{response.Status} for {response.Request.ResourceType} {response.Url}");
            }
        };
    }

    public string TestName { get; }

    public IPage Page { get; }

    /// <summary>
    /// Errors the page reported: uncaught exceptions, console errors (a Content-Security-Policy
    /// refusal is one), and a missing file of its own. An API refusal the page shows is none of these.
    /// </summary>
    public IReadOnlyCollection<string> Errors => _errors;

    /// <summary>Saves a full-page PNG as {Screenshots.Directory}/{name}.png and returns its path.</summary>
    public async Task<string> ScreenshotAsync(string name)
    {
        var path = Path.Combine(Screenshots.Directory, name + ".png");
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        return path;
    }

    /// <summary>Fails with the page's own error reports when it logged any.</summary>
    public void AssertNoErrors() => Assert.True(_errors.IsEmpty, $"{TestName}: the page reported errors:\n{string.Join('\n', _errors)}");

    public async ValueTask DisposeAsync() => await _context.DisposeAsync();
}

public static class Screenshots
{
    /// <summary>EVREG_SCREENSHOT_DIR (./dev test points it into its results folder), else TestResults/screenshots in the test output.</summary>
    public static string Directory
    {
        get
        {
            var directory = Environment.GetEnvironmentVariable("EVREG_SCREENSHOT_DIR") is { Length: > 0 } configured
                ? configured
                : Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");
            System.IO.Directory.CreateDirectory(directory);
            return directory;
        }
    }
}
