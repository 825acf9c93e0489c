using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EventRegistration.Tests.Foundation;

/// <summary>An app whose current webhook secret holds commas, as the Razorpay Dashboard allows.</summary>
public sealed class CommaSecretApp : TestApp
{
    public const string CurrentSecret = "new,secret, with commas";

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Razorpay:WebhookSecrets:0"] = CurrentSecret;
        settings["Razorpay:WebhookSecrets:1"] = FakeRazorpay.WebhookSecret;
    }
}

public sealed class WebhookSecretSettingsTests(CommaSecretApp app) : IClassFixture<CommaSecretApp>
{
    [Fact]
    public async Task A_webhook_secret_holding_commas_verifies_webhooks_and_the_previous_one_still_does()
    {
        foreach (var secret in new[] { CommaSecretApp.CurrentSecret, FakeRazorpay.WebhookSecret })
        {
            var body = Webhook.Payment("payment.authorized", TestApp.NewPaymentId(), "order_T" + Guid.NewGuid().ToString("N")[..14], 50_000, "authorized");
            var answer = await app.WebhookAsync(body, secret: secret);
            Assert.Equal(200, answer.Status);
        }

        var other = await app.WebhookAsync(Webhook.Payment("payment.authorized", TestApp.NewPaymentId(), null, 50_000, "authorized"), secret: "new");
        Assert.Equal(401, other.Status);
    }

    [Fact]
    public async Task The_single_setting_of_one_secret_is_still_read()
    {
        var settings = app.Settings();
        settings.Remove("Razorpay:WebhookSecrets:0");
        settings.Remove("Razorpay:WebhookSecrets:1");
        settings["Razorpay:WebhookSecrets"] = FakeRazorpay.WebhookSecret;
        using var host = TestApp.BuildHost(settings);
        await host.StartAsync();
        Assert.Equal([FakeRazorpay.WebhookSecret], host.Services.GetRequiredService<IOptions<RazorpayOptions>>().Value.WebhookSecretList);
        await host.StopAsync();
    }

    [Fact]
    public async Task An_empty_rotation_slot_is_skipped_and_no_secret_at_all_fails_start_up()
    {
        var settings = app.Settings();
        settings["Razorpay:WebhookSecrets:0"] = CommaSecretApp.CurrentSecret;
        settings["Razorpay:WebhookSecrets:1"] = "";
        using (var host = TestApp.BuildHost(settings))
        {
            await host.StartAsync();
            Assert.Equal([CommaSecretApp.CurrentSecret], host.Services.GetRequiredService<IOptions<RazorpayOptions>>().Value.WebhookSecretList);
            await host.StopAsync();
        }

        settings["Razorpay:WebhookSecrets:0"] = "";
        using var broken = TestApp.BuildHost(settings);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => broken.StartAsync());
        Assert.Contains("Razorpay__WebhookSecrets__0 is required", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Razorpay:WebhookSecrets", "current,previous", "holds a comma")]
    [InlineData("Razorpay:WebhookSecrets", "one-secret", "set both as one value")]
    [InlineData("Razorpay:WebhookSecrets:0", "secret\n", "white space")]
    [InlineData("Razorpay:WebhookSecrets:0", " ", "white space")]
    [InlineData("Razorpay:WebhookSecrets:current", "secret", "not a setting the app reads")]
    public async Task A_webhook_secret_setting_that_cannot_be_read_unambiguously_fails_start_up(string key, string value, string why)
    {
        var settings = app.Settings();
        if (key == "Razorpay:WebhookSecrets" && value.Contains(','))
        {
            settings.Remove("Razorpay:WebhookSecrets:0");
            settings.Remove("Razorpay:WebhookSecrets:1");
        }

        settings[key] = value;
        using var host = TestApp.BuildHost(settings);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
        Assert.Contains("Razorpay__WebhookSecrets", error.Message, StringComparison.Ordinal);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(CommaSecretApp.CurrentSecret, error.Message, StringComparison.Ordinal);
    }
}
