using System.Globalization;
using System.Text.Json.Nodes;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Tickets;

/// <summary>The normal path of DeliverTicket and its duplicates (DESIGN.md invariant 5).</summary>
public sealed class DeliverTicketTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Paid_registration_gets_one_upload_and_one_template_send_and_is_recorded_sent()
    {
        var ticket = await app.PaidTicketAsync(name: "Asha Menon");

        await app.DeliverAsync(ticket.QueueMessage);

        var uploads = app.WhatsApp.UploadsFor(ticket.RegistrationId);
        var upload = Assert.Single(uploads);
        Assert.Equal($"Bearer {FakeWhatsApp.AccessToken}", upload.Authorization);
        Assert.StartsWith("multipart/form-data", upload.ContentType);
        Assert.Contains("name=messaging_product", upload.Text);
        Assert.Contains("whatsapp", upload.Text);
        Assert.Contains("Content-Type: image/png", upload.Text);
        Assert.Contains("\x89PNG", upload.Text);
        var mediaId = app.WhatsApp.AcceptedUploads.Single(u => ReferenceEquals(u.Request, upload)).MediaId;

        var attempt = Assert.Single(app.WhatsApp.SendAttemptsTo(ticket.Phone));
        Assert.Equal($"Bearer {FakeWhatsApp.AccessToken}", attempt.Authorization);
        var (body, wamid) = Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        var startsAt = await app.ScalarAsync<DateTime>("select starts_at from events where id = @EventId", new { ticket.EventId });
        var expectedDate = TimeZoneInfo.ConvertTimeFromUtc(DateTime.SpecifyKind(startsAt, DateTimeKind.Utc), TimeZoneInfo.FindSystemTimeZoneById("Asia/Kolkata"))
            .ToString("ddd d MMM yyyy, h:mm tt", CultureInfo.InvariantCulture);
        var expected = JsonNode.Parse($$"""
            {
              "messaging_product": "whatsapp",
              "to": "{{ticket.Phone}}",
              "type": "template",
              "template": {
                "name": "{{FakeWhatsApp.TemplateName}}",
                "language": { "code": "{{FakeWhatsApp.TemplateLanguage}}" },
                "components": [
                  { "type": "header", "parameters": [ { "type": "image", "image": { "id": "{{mediaId}}" } } ] },
                  { "type": "body", "parameters": [
                      { "type": "text", "text": "Asha Menon" },
                      { "type": "text", "text": "Test event" },
                      { "type": "text", "text": "{{expectedDate}}" } ] }
                ]
              }
            }
            """);
        Assert.True(JsonNode.DeepEquals(expected, body), body.ToJsonString());

        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("sent", delivery.Status);
        Assert.Equal(wamid, delivery.Wamid);
        Assert.Equal(mediaId, delivery.MediaId);
        Assert.Equal(1, delivery.Attempts);
        Assert.Equal($"tickets/{ticket.RegistrationId}.png", delivery.TicketBlob);
        Assert.NotNull(delivery.SentAt);
        Assert.NotNull(delivery.LastAttemptAt);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Ten_copies_of_the_message_processed_at_once_send_exactly_one_message()
    {
        var ticket = await app.PaidTicketAsync();
        app.WhatsApp.SendDelay = TimeSpan.FromMilliseconds(300);
        try
        {
            using var start = new ManualResetEventSlim();
            var copies = Enumerable.Range(0, 10).Select(_ => Task.Run(async () =>
            {
                start.Wait();
                try
                {
                    await app.DeliverAsync(ticket.QueueMessage);
                    return "completed";
                }
                catch (TicketRetryLaterException)
                {
                    return "retry";
                }
            })).ToList();
            start.Set();
            var outcomes = await Task.WhenAll(copies);
            Assert.All(outcomes, o => Assert.Contains(o, new[] { "completed", "retry" }));
        }
        finally
        {
            app.WhatsApp.ClearFailures();
        }

        // The copies that were told to retry come back, as the runtime would bring them.
        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Single(app.WhatsApp.SendAttemptsTo(ticket.Phone));
        Assert.Single(app.WhatsApp.SentTo(ticket.Phone));
        var delivery = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal("sent", delivery.Status);
        Assert.Equal(1, delivery.Attempts);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_message_delivered_again_after_success_sends_nothing()
    {
        var ticket = await app.PaidTicketAsync();
        await app.DeliverAsync(ticket.QueueMessage);
        var first = await app.DeliveryAsync(ticket.RegistrationId);

        await app.DeliverAsync(ticket.QueueMessage);
        await app.DeliverAsync(ticket.QueueMessage);

        Assert.Single(app.WhatsApp.SendAttemptsTo(ticket.Phone));
        Assert.Single(app.WhatsApp.UploadsFor(ticket.RegistrationId));
        var after = await app.DeliveryAsync(ticket.RegistrationId);
        Assert.Equal(first, after);
    }

    [Fact]
    public async Task The_QR_code_decodes_to_a_token_that_verifies_with_the_public_key_and_names_the_registration()
    {
        var ticket = await app.PaidTicketAsync();
        await app.DeliverAsync(ticket.QueueMessage);

        var png = await TicketScenario.StoredTicketPngAsync(ticket.RegistrationId);
        var token = TicketScenario.DecodeQr(png);

        var claims = TicketToken.Verify(token, TestTicketKey.PublicKeyPem);
        Assert.NotNull(claims);
        Assert.Equal(ticket.RegistrationId, claims.RegistrationId);
        Assert.Equal(ticket.EventId, claims.EventId);

        // The image sent on WhatsApp is the stored one.
        var upload = Assert.Single(app.WhatsApp.UploadsFor(ticket.RegistrationId));
        Assert.Contains(Convert.ToHexString(png), Convert.ToHexString(upload.Body));
    }

    [Fact]
    public async Task A_ticket_token_with_any_one_character_altered_does_not_verify()
    {
        var ticket = await app.PaidTicketAsync();
        await app.DeliverAsync(ticket.QueueMessage);
        var token = TicketScenario.DecodeQr(await TicketScenario.StoredTicketPngAsync(ticket.RegistrationId));
        Assert.NotNull(TicketToken.Verify(token, TestTicketKey.PublicKeyPem));

        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
        for (var i = 0; i < token.Length; i++)
        {
            foreach (var replacement in new[] { alphabet[(alphabet.IndexOf(token[i]) + 1) % alphabet.Length], alphabet[(alphabet.IndexOf(token[i]) + 17) % alphabet.Length] })
            {
                var altered = token[..i] + replacement + token[(i + 1)..];
                Assert.Null(TicketToken.Verify(altered, TestTicketKey.PublicKeyPem));
            }
        }
    }

    [Fact]
    public async Task A_token_signed_with_another_key_does_not_verify()
    {
        var ticket = await app.PaidTicketAsync();
        await app.DeliverAsync(ticket.QueueMessage);
        var token = TicketScenario.DecodeQr(await TicketScenario.StoredTicketPngAsync(ticket.RegistrationId));

        using var other = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        Assert.Null(TicketToken.Verify(token, other));
    }
}
