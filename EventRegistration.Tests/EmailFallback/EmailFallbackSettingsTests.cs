using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.EmailFallback;

/// <summary>The SMTP failure table, and the fallback's settings checked at start-up.</summary>
public sealed class EmailFallbackSettingsTests(TestApp app) : IClassFixture<TestApp>
{
    [Theory]
    // No answer: nothing can have been taken before the recipients were accepted; after, it may have.
    [InlineData(SmtpStage.Connect, null, DeliveryFailureClass.Transient, "smtp_unreachable")]
    [InlineData(SmtpStage.SignIn, null, DeliveryFailureClass.Transient, "smtp_no_answer")]
    [InlineData(SmtpStage.Envelope, null, DeliveryFailureClass.Transient, "smtp_no_answer")]
    [InlineData(SmtpStage.Message, null, DeliveryFailureClass.OutcomeUnknown, "smtp_outcome_unknown")]
    // The server's word: 4xx later, 5xx never.
    [InlineData(SmtpStage.Connect, 421, DeliveryFailureClass.Transient, "smtp_try_later")]
    [InlineData(SmtpStage.Envelope, 450, DeliveryFailureClass.Transient, "smtp_try_later")]
    [InlineData(SmtpStage.Message, 451, DeliveryFailureClass.Transient, "smtp_try_later")]
    [InlineData(SmtpStage.SignIn, 535, DeliveryFailureClass.Permanent, "smtp_sign_in_refused")]
    [InlineData(SmtpStage.Connect, 554, DeliveryFailureClass.Permanent, "smtp_server_refused")]
    [InlineData(SmtpStage.Envelope, 550, DeliveryFailureClass.Permanent, "smtp_message_refused")]
    [InlineData(SmtpStage.Message, 552, DeliveryFailureClass.Permanent, "smtp_message_refused")]
    public void An_SMTP_failure_is_classified_by_how_far_it_got_and_what_the_server_said(SmtpStage stage, int? code, DeliveryFailureClass expected, string category) =>
        Assert.Equal((expected, category), DeliveryRetryPolicy.ClassifySmtp(stage, code));

    [Theory]
    [InlineData("EmailFallback:From", "", "EmailFallback__From")]
    [InlineData("EmailFallback:From", "not an address", "EmailFallback__From")]
    [InlineData("EmailFallback:Security", "Carrier pigeon", "EmailFallback__Security")]
    [InlineData("EmailFallback:Password", "", "EmailFallback__UserName and EmailFallback__Password")]
    [InlineData("EmailFallback:Port", "0", "EmailFallback__Port")]
    [InlineData("EmailFallback:TimeoutSeconds", "120", "EmailFallback__TimeoutSeconds")]
    [InlineData("EmailFallback:Host", "smtp host.example.org", "EmailFallback__Host")]
    public async Task A_broken_fallback_setting_stops_start_up_naming_it_and_never_echoing_the_password(string key, string value, string named)
    {
        var settings = app.Settings();
        settings["EmailFallback:Host"] = "smtp.example.org";
        settings["EmailFallback:From"] = "tickets@example.org";
        settings["EmailFallback:UserName"] = "apikey";
        settings["EmailFallback:Password"] = "secret-smtp-password-123";
        settings[key] = value;
        using var host = TestApp.BuildHost(settings);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());

        Assert.Contains(named, error.Message);
        Assert.DoesNotContain("secret-smtp-password-123", error.ToString());
    }

    [Fact]
    public async Task Without_a_host_the_fallback_is_off_and_nothing_else_is_required()
    {
        var settings = app.Settings();
        settings["EmailFallback:From"] = "";
        using var host = TestApp.BuildHost(settings);
        await host.StartAsync();
        await host.StopAsync();
    }
}
