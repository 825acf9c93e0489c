using Microsoft.Playwright;

namespace EventRegistration.Tests.Infrastructure.Browser;

/// <summary>
/// The one rule for browser tests and the browser they drive: Debian's chromium at
/// /usr/bin/chromium (or EVREG_CHROMIUM), headless, launched by Playwright without
/// <c>playwright install</c> (which downloads browsers and cannot work offline).
/// When the binary is missing, a browser test is skipped on a developer's machine, with the
/// command that installs it, and FAILS when <c>CI</c> or <c>EVREG_REQUIRE_BROWSER</c> is set
/// (.ci/run sets it after installing chromium): CI never passes without having run them.
/// </summary>
public static class Chromium
{
    public static string ExecutablePath =>
        Environment.GetEnvironmentVariable("EVREG_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    public static bool IsInstalled => File.Exists(ExecutablePath);

    public static bool Required =>
        Environment.GetEnvironmentVariable("EVREG_REQUIRE_BROWSER") is { Length: > 0 } and not "0"
        || Environment.GetEnvironmentVariable("CI") is { Length: > 0 } and not "false" and not "0";

    public static string MissingMessage =>
        $"Chromium is not at {ExecutablePath}: `sudo apt-get update && sudo apt-get install -y chromium` (Debian/Ubuntu), or set EVREG_CHROMIUM to a Chromium binary.";

    /// <summary>Skips the calling [SkippableFact] when chromium is missing, unless browsers are required; then it fails.</summary>
    public static void SkipOrFailWhenMissing()
    {
        if (IsInstalled)
        {
            return;
        }

        if (Required)
        {
            Assert.Fail(MissingMessage + " Browser tests are required here (CI / EVREG_REQUIRE_BROWSER).");
        }

        Skip.If(true, MissingMessage);
    }

    public static Task<IBrowser> LaunchAsync(IPlaywright playwright, IEnumerable<string>? extraArgs = null) =>
        playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ExecutablePath,
            Headless = true,
            // Root (CI containers) cannot use Chromium's sandbox.
            Args = ["--no-sandbox", .. extraArgs ?? []],
        });
}
