using System.Text.Json;
using EventRegistration.Functions.Reconciliation;
using EventRegistration.Tests.Foundation;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Reconciliation;

public sealed class ReconcileFunctionTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public void The_host_binds_a_timer_on_the_ReconciliationSchedule_setting_without_run_on_startup()
    {
        var trigger = FunctionsMetadataTests.Trigger("Reconcile");
        Assert.Equal("timerTrigger", trigger.GetProperty("type").GetString());
        Assert.Equal("%ReconciliationSchedule%", trigger.GetProperty("schedule").GetString());
        Assert.False(trigger.TryGetProperty("runOnStartup", out var runOnStartup) && runOnStartup.GetBoolean());
    }

    [Fact]
    public void The_sample_settings_carry_the_default_schedule()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(directory!.FullName, "local.settings.sample.json")))
        {
            directory = directory.Parent;
        }

        using var sample = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory.FullName, "local.settings.sample.json")));
        var schedule = sample.RootElement.GetProperty("Values").GetProperty("ReconciliationSchedule").GetString();
        Assert.Equal("0 */5 * * * *", schedule);
        Assert.True(ReconciliationOptions.IsValidSchedule(schedule));
    }

    [Theory]
    [InlineData("ReconciliationSchedule", "*/5 * * * *", "ReconciliationSchedule")]
    [InlineData("ReconciliationSchedule", "every five minutes", "ReconciliationSchedule")]
    [InlineData("ReconciliationSchedule", "", "ReconciliationSchedule")]
    [InlineData("Reconciliation:BatchSize", "0", "Reconciliation__BatchSize")]
    [InlineData("Reconciliation:OrderHorizonHours", "0", "Reconciliation__OrderHorizonHours")]
    public async Task A_malformed_reconciliation_setting_fails_start_up_naming_it(string key, string value, string named)
    {
        Assert.Contains(named, await app.StartUpFailureWithAsync(key, value));
    }

    [Fact]
    public void The_run_deadline_stays_well_under_the_function_timeout()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(directory!.FullName, "host.json")))
        {
            directory = directory.Parent;
        }

        using var host = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory.FullName, "host.json")));
        var functionTimeout = TimeSpan.Parse(host.RootElement.GetProperty("functionTimeout").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        var longest = typeof(ReconciliationOptions).GetProperty(nameof(ReconciliationOptions.RunDeadlineSeconds))!
            .GetCustomAttributes(typeof(System.ComponentModel.DataAnnotations.RangeAttribute), false)
            .Cast<System.ComponentModel.DataAnnotations.RangeAttribute>().Single().Maximum;

        // Room left after the deadline for the step under way to notice it and the row to be closed.
        Assert.True(TimeSpan.FromSeconds((int)longest) <= functionTimeout - TimeSpan.FromMinutes(1));
        Assert.True(TimeSpan.FromSeconds(new ReconciliationOptions().RunDeadlineSeconds) <= functionTimeout / 2);
    }

    [Fact]
    public async Task Without_the_setting_start_up_fails_naming_it()
    {
        // The host resolves %ReconciliationSchedule% from the app settings, not from the app's
        // options: a default inside the app would leave the timer dead.
        var settings = app.Settings();
        settings.Remove("ReconciliationSchedule");
        using var host = TestApp.BuildHost(settings);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
        Assert.Contains("ReconciliationSchedule is required", error.Message, StringComparison.Ordinal);
    }
}
