using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;
using EventRegistration.Tests.Tickets;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Tests.Security;

/// <summary>The app with a provider that captures every line at every level, scopes and exceptions included.</summary>
public sealed class LoggedApp : TestApp
{
    public CapturingLoggerProvider Logs { get; } = new();

    protected override void ConfigureLogging(ILoggingBuilder logging)
    {
        logging.AddProvider(Logs);
        logging.AddFilter<CapturingLoggerProvider>(null, LogLevel.Trace);
    }
}

/// <summary>
/// A whole flow, each step once failing, with every log line captured: no line, state value,
/// scope or exception carries a member's phone number or email, a signature, a token or a secret.
/// </summary>
public sealed class LogRedactionTests(LoggedApp app) : IClassFixture<LoggedApp>
{
    [Fact]
    public async Task No_log_line_carries_a_phone_number_email_signature_token_or_secret_through_a_whole_flow_and_its_failures()
    {
        var phone = "+9198" + RandomNumberGenerator.GetInt32(10_000_000, 99_999_999);
        var email = $"asha.{Guid.NewGuid():N}@example.org";
        var eventId = await app.CreateEventAsync();
        var memberId = Guid.NewGuid();
        await app.ExecuteAsync("insert into members (id, name, phone_e164, email) values (@memberId, 'Asha Menon', @phone, @email)", new { memberId, phone, email });
        var forbidden = new List<string>
        {
            phone, phone.TrimStart('+'), phone[3..], email,
            FakeRazorpay.KeySecret, FakeRazorpay.WebhookSecret, FakeRazorpay.PreviousWebhookSecret, FakeWhatsApp.AccessToken,
            Convert.ToBase64String(Encoding.UTF8.GetBytes(FakeRazorpay.KeyId + ":" + FakeRazorpay.KeySecret)),
        };
        forbidden.AddRange(SigningKeyFragments());

        // Order: Razorpay refuses once, then creates it.
        app.Razorpay.FailOrders(500);
        Assert.Equal(503, (await app.CreateOrderAsync(eventId, memberId)).Status);
        app.Razorpay.Reset();
        var (registrationId, orderId) = await app.OrderAsync(eventId, memberId);

        // Checkout: a forged signature is refused, the genuine one confirms.
        var paymentId = TestApp.NewPaymentId();
        var forged = TestApp.CheckoutSignature(orderId, paymentId, "not-the-key-secret");
        var genuine = TestApp.CheckoutSignature(orderId, paymentId);
        forbidden.AddRange([forged, genuine]);
        Assert.Equal(401, (await app.ConfirmAsync(orderId, paymentId, forged)).Status);
        Assert.Equal(200, (await app.ConfirmAsync(orderId, paymentId, genuine)).Status);

        // Webhook carrying the payer's email and contact: a forged signature, then the genuine delivery.
        var payload = JsonNode.Parse(Webhook.Payment("payment.captured", paymentId, orderId, 50_000, "captured"))!;
        payload["payload"]!["payment"]!["entity"]!["email"] = email;
        payload["payload"]!["payment"]!["entity"]!["contact"] = phone;
        var body = Encoding.UTF8.GetBytes(payload.ToJsonString());
        var forgedWebhook = TestApp.WebhookSignature(body, "not-the-webhook-secret");
        var genuineWebhook = TestApp.WebhookSignature(body);
        forbidden.AddRange([forgedWebhook, genuineWebhook]);
        Assert.Equal(401, (await app.WebhookRawAsync(body, Headers(forgedWebhook))).Status);
        Assert.Equal(200, (await app.WebhookRawAsync(body, Headers(genuineWebhook))).Status);

        // Ticket: the upload fails, then WhatsApp refuses the send naming the recipient, then it is sent.
        var message = await app.TakeQueueMessageAsync(registrationId);
        app.WhatsApp.EchoRecipientInErrors = true;
        app.WhatsApp.FailNextUploads(500, 131000);
        app.WhatsApp.FailNextSends(500, 131000, times: 2);
        for (var round = 0; round < 6 && (await app.DeliveryAsync(registrationId)).Status != "sent"; round++)
        {
            await app.DeliverAsync(message);
            if ((await app.DeliveryAsync(registrationId)).NextAttemptAt is not null)
            {
                await app.AdvanceToNextAttemptAsync(registrationId);
            }
        }

        Assert.NotEmpty(app.WhatsApp.SentTo(phone));

        // Reconciliation: a second, unpaid order's check fails at Razorpay, then succeeds.
        var (_, unpaidOrder) = await app.OrderAsync(await app.CreateEventAsync(), memberId);
        app.Razorpay.Fail($"/v1/orders/{unpaidOrder}/payments", 500);
        app.AgeBeyondGrace();
        await app.ReconcileAsync();
        app.Razorpay.Reset();
        app.Razorpay.OrderPayments(unpaidOrder, ReconciliationHarness.Payment(TestApp.NewPaymentId(), unpaidOrder, 50_000, "failed"));
        await app.ReconcileAsync();

        var lines = app.Logs.Lines;
        Assert.Contains(lines, l => l.Level == LogLevel.Warning && l.Message.Contains("WhatsApp", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Message.Contains("signature mismatch", StringComparison.Ordinal));
        var leaks = (from line in lines
                     from text in line.Texts
                     from secret in forbidden
                     where text.Contains(secret, StringComparison.OrdinalIgnoreCase)
                     select $"{line.Category} [{line.Level}] carries '{secret}': {line.Message}").Distinct().ToList();
        Assert.True(leaks.Count == 0, string.Join(Environment.NewLine, leaks));
        await app.AssertAllAsync();
    }

    private static Dictionary<string, string[]> Headers(string signature) => new()
    {
        ["X-Razorpay-Signature"] = [signature],
        ["x-razorpay-event-id"] = ["evt_" + Guid.NewGuid().ToString("N")[..14]],
    };

    /// <summary>The signing key's base64 lines: any one of them in a log would be part of the key.</summary>
    private static IEnumerable<string> SigningKeyFragments() =>
        TestTicketKey.PrivateKeyPem.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(line => !line.StartsWith("-----", StringComparison.Ordinal) && line.Length >= 16);
}

public sealed class RedactionTests
{
    [Theory]
    [InlineData("+919812345678", "+91******5678")]
    [InlineData("919812345678", "91******5678")]
    [InlineData("+123", "****")]
    public void A_phone_number_keeps_its_country_code_and_last_four_digits(string phone, string masked) =>
        Assert.Equal(masked, Functions.Infrastructure.Telemetry.Redaction.MaskPhone(phone));

    [Fact]
    public void Provider_text_keeps_its_words_and_codes_but_loses_numbers_and_addresses() =>
        Assert.Equal("(#131026) cannot reach +91******5678 or ***@example.org",
            Functions.Infrastructure.Telemetry.Redaction.Scrub("(#131026) cannot reach +919812345678 or asha.menon@example.org"));
}
