using EventRegistration.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EventRegistration.Tests.Soak;

public sealed class ChaosSoakTests(TestApp app, ITestOutputHelper output) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Mixed_operations_with_connection_kills_keep_every_invariant()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("EVREG_SOAK_SEED"), out var s) ? s : 20261125;
        var members = int.TryParse(Environment.GetEnvironmentVariable("EVREG_SOAK_MEMBERS"), out var m) ? m : 250;

        var report = await new ChaosSoak(app, seed, members).RunAsync();
        output.WriteLine(report.ToString());
        foreach (var row in await app.QueryAsync<(string Outcome, string Type, long N)>("select coalesce(outcome,'-'), event_type, count(*) from webhook_inbox group by 1, 2 order by 2, 1"))
        {
            output.WriteLine(row.ToString());
        }

        Assert.True(report.Operations >= 1_000, $"only {report.Operations} operations");
        Assert.True(report.ConnectionsKilled > 0, "no fault was injected");
        Assert.Empty(report.Unexpected);
        Assert.Equal(report.ExpectedPaidUncapped, report.PaidUncapped);
        Assert.True(report.RefundDue > 0, "the tight event never filled up: the refund_due path went untested");
        await app.AssertAllAsync();
    }
}
