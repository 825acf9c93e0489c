using EventRegistration.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EventRegistration.Tests.Soak;

/// <summary>
/// CI runs a small soak (the defaults of <see cref="SoakOptions"/>); <c>./dev soak</c> runs this
/// same test at scale with its options in the environment and writes the figures to docs/soak.md.
/// </summary>
public sealed class ChaosSoakTests(TestApp app, ITestOutputHelper output) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Mixed_operations_with_injected_faults_keep_every_invariant()
    {
        var options = SoakOptions.FromEnvironment();
        var report = await new ChaosSoak(app, options).RunAsync();

        var checks = new List<SoakReport.Check>
        {
            new($"at least {options.Operations} operations", report.Operations >= options.Operations, $"{report.Operations}"),
            new($"at least {options.Faults} injected faults", report.FaultsInjected >= options.Faults, $"{report.FaultsInjected}"),
            new("every answer was one the operation allows (503s retried)", report.Unexpected.Count == 0, string.Join("; ", report.Unexpected.Take(5))),
            new("paid registrations of the uncapped event = journeys that paid and were not refunded",
                report.ExpectedPaidUncapped == report.PaidUncapped, $"expected {report.ExpectedPaidUncapped}, found {report.PaidUncapped}"),
            new("the tight event filled up (the refund_due path ran)", report.RefundDue > 0, $"{report.RefundDue} refund_due (event_full)"),
        };
        if (options.RefundShapes)
        {
            checks.Add(new("refund shapes: refunded in whole → not paid; a mismatching capture decided alike in either order",
                report.ShapeViolations.Count == 0, string.Join("; ", report.ShapeViolations.Take(5))));
        }

        string? invariantFailure = null;
        try
        {
            await app.AssertAllAsync();
        }
        catch (Exception e)
        {
            invariantFailure = e.Message;
        }

        checks.Add(new("app.AssertAllAsync() (every invariant in Invariants.cs, as SQL)", invariantFailure is null, invariantFailure ?? ""));

        var markdown = SoakReport.Markdown(report, checks);
        output.WriteLine(markdown);
        if (Environment.GetEnvironmentVariable("EVREG_SOAK_REPORT") is { Length: > 0 } path)
        {
            await File.WriteAllTextAsync(path, markdown);
        }

        Assert.All(checks, c => Assert.True(c.Passed, $"{c.Name}: {c.Detail}"));
    }
}
