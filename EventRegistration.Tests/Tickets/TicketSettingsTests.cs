using System.Text.Json;
using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Foundation;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Tickets;

/// <summary>What the host binds for tickets, and start-up validation of the ticket settings.</summary>
public sealed class TicketSettingsTests(TestApp app) : IClassFixture<TestApp>
{
    [Theory]
    [InlineData("DeliverTicket", "ticket-deliveries")]
    [InlineData("RecordPoisonedTicket", "ticket-deliveries-poison")]
    public void Queue_functions_bind_their_queue_on_the_storage_connection(string name, string queue)
    {
        var trigger = FunctionsMetadataTests.Trigger(name);
        Assert.Equal("queueTrigger", trigger.GetProperty("type").GetString());
        Assert.Equal(queue, trigger.GetProperty("queueName").GetString());
        Assert.Equal(StorageOptions.ConnectionSetting, trigger.GetProperty("connection").GetString());
    }

    [Fact]
    public void The_app_sends_ticket_messages_to_the_queue_the_trigger_binds()
    {
        Assert.Equal(DeliverTicketFunction.QueueName, new StorageOptions().TicketQueueName);
    }

    [Fact]
    public void Host_json_sets_the_queue_retry_policy_the_ticket_design_relies_on()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(directory!.FullName, "host.json")))
        {
            directory = directory.Parent;
        }

        using var host = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory.FullName, "host.json")));
        var queues = host.RootElement.GetProperty("extensions").GetProperty("queues");
        var maxDequeueCount = queues.GetProperty("maxDequeueCount").GetInt32();
        var visibilityTimeout = TimeSpan.Parse(queues.GetProperty("visibilityTimeout").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(5, maxDequeueCount);
        Assert.Equal("base64", queues.GetProperty("messageEncoding").GetString());

        // The runtime's retries now cover only invocations that throw (database or storage down);
        // WhatsApp failures schedule their own. A held lease of a crashed worker must still expire
        // before its message comes back.
        var options = new TicketOptions();
        Assert.True(TimeSpan.FromSeconds(options.LeaseSeconds) <= visibilityTimeout);
    }

    [Fact]
    public async Task The_public_key_endpoint_serves_the_key_that_verifies_tickets()
    {
        var request = TestApp.Request("");
        request.Method = "GET";
        var answer = await TestApp.ExecuteAsync(request, app.Function<TicketPublicKeyFunction>().TicketPublicKey(request));

        Assert.Equal(200, answer.Status);
        Assert.StartsWith("application/json", answer.ContentType);
        var pem = answer.Json.GetProperty("publicKeyPem").GetString()!;
        Assert.Equal(TestTicketKey.PublicKeyPem.Trim(), pem.Trim());
        Assert.Equal("ES256", answer.Json.GetProperty("algorithm").GetString());
        Assert.DoesNotContain("PRIVATE", answer.Body);
    }

    [Theory]
    [InlineData("WhatsApp:PhoneNumberId", "", "WhatsApp__PhoneNumberId")]
    [InlineData("WhatsApp:PhoneNumberId", "+919800000000", "WhatsApp__PhoneNumberId")]
    [InlineData("WhatsApp:AccessToken", "", "WhatsApp__AccessToken")]
    [InlineData("WhatsApp:TemplateName", "", "WhatsApp__TemplateName")]
    [InlineData("WhatsApp:TemplateName", "Event Ticket", "WhatsApp__TemplateName")]
    [InlineData("WhatsApp:BaseUrl", "not a url", "WhatsApp__BaseUrl")]
    [InlineData("WhatsApp:ApiVersion", "21", "WhatsApp__ApiVersion")]
    [InlineData("WhatsApp:TimeoutSeconds", "0", "WhatsApp__TimeoutSeconds")]
    [InlineData("Tickets:SigningKeyPem", "", "Tickets__SigningKeyPem")]
    [InlineData("Tickets:SigningKeyPem", "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----", "Tickets__SigningKeyPem")]
    [InlineData("Tickets:LeaseSeconds", "10", "Tickets__LeaseSeconds")]
    [InlineData("Tickets:EventTimeZone", "Mars/Olympus_Mons", "Tickets__EventTimeZone")]
    public async Task A_missing_or_malformed_ticket_setting_fails_start_up_naming_it(string key, string value, string named)
    {
        Assert.Contains(named, await app.StartUpFailureWithAsync(key, value));
    }

    [Fact]
    public async Task A_public_key_or_another_curve_is_refused_as_signing_key()
    {
        using var p384 = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP384);
        foreach (var pem in new[] { TestTicketKey.PublicKeyPem, p384.ExportPkcs8PrivateKeyPem() })
        {
            var settings = app.Settings();
            settings["Tickets:SigningKeyPem"] = pem;
            using var host = TestApp.BuildHost(settings);
            var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
            Assert.Contains("Tickets__SigningKeyPem", error.Message);
        }
    }

    [Fact]
    public async Task A_signing_key_kept_on_one_line_with_escaped_newlines_is_accepted()
    {
        var settings = app.Settings();
        settings["Tickets:SigningKeyPem"] = TestTicketKey.PrivateKeyPem.Replace("\n", "\\n", StringComparison.Ordinal);
        using var host = TestApp.BuildHost(settings);
        await host.StartAsync();
        await host.StopAsync();
    }
}
