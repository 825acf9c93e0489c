using System.Text;
using EventRegistration.Functions.Infrastructure.Razorpay;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Webhooks;

/// <summary>
/// The inbox's side of the webhook: what is stored (the signed bytes), what becomes of a webhook
/// the database will never accept, and the settings that bound it.
/// </summary>
public sealed class WebhookInboxTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task The_stored_body_still_matches_its_signature()
    {
        var eventId = await app.CreateEventAsync();
        var (_, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        // Non-ASCII text, escapes a re-serialiser would rewrite, odd spacing: only the bytes as signed verify.
        var body = Webhook.Payment("payment.authorized", TestApp.NewPaymentId(), orderId, 50_000, "authorized", emptyNotes: false)
            .Replace("\"registration\":\"r1\"", "\"registration\":\"Zoë 😀 \\u00e9\\/ \\ud83d\\ude00\"")
            .Replace(",", " ,\t");
        var bytes = Encoding.UTF8.GetBytes(body);
        var signature = TestApp.WebhookSignature(bytes);

        var answer = await app.WebhookRawAsync(bytes, new Dictionary<string, string[]>
        {
            ["X-Razorpay-Signature"] = [signature],
            ["x-razorpay-event-id"] = ["evt_TBytes000001"],
        });

        Assert.Equal(200, answer.Status);
        var stored = await app.ScalarAsync<byte[]>("select body from webhook_inbox where event_id = 'evt_TBytes000001'");
        Assert.Equal(bytes, stored);
        Assert.Equal(signature, RazorpaySignatures.Compute(stored, FakeRazorpay.WebhookSecret));
    }

    [Fact]
    public async Task A_signed_webhook_carrying_a_value_the_database_refuses_is_recorded_for_an_operator_and_acknowledged()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paymentId = TestApp.NewPaymentId();
        // Valid JSON and valid Unicode, but PostgreSQL text cannot hold U+0000 (SQLSTATE 22021):
        // no retry will ever store it, so it must not be answered as an outage.
        var body = Webhook.Payment("payment.failed", paymentId, orderId, 50_000, "failed")
            .Replace("Payment failed at the bank", "Bank said \\u0000 no");

        var answer = await app.WebhookAsync(body, "evt_TRefused0001");

        Assert.True(answer.Status == 200, answer.ToString());
        Assert.Equal("unprocessable", answer.Json.GetProperty("status").GetString());
        var row = (await app.QueryAsync<(DateTime? ProcessedAt, string? Outcome, string? LastError)>(
            "select processed_at, outcome, last_error from webhook_inbox where event_id = 'evt_TRefused0001'")).Single();
        Assert.NotNull(row.ProcessedAt);
        Assert.Equal("unprocessable", row.Outcome);
        Assert.Contains("22021", row.LastError);
        var anomalies = await app.QueryAsync<string>("select detail from anomalies where kind = 'webhook_unprocessable'");
        Assert.Contains(anomalies, d => d.Contains("evt_TRefused0001") && d.Contains("22021"));
        Assert.Equal("pending", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from payments where payment_id = @paymentId", new { paymentId }));

        // Razorpay's redelivery is a duplicate now, not another attempt, and not another anomaly.
        var again = await app.WebhookAsync(body, "evt_TRefused0001");
        Assert.Equal(200, again.Status);
        Assert.Equal("duplicate", again.Json.GetProperty("status").GetString());
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from anomalies where kind = 'webhook_unprocessable' and detail like '%evt_TRefused0001%'"));
        await app.AssertAllAsync();
    }

    [Theory]
    [InlineData("Webhooks:TimeBudgetMilliseconds", "100000")]
    [InlineData("Webhooks:TimeBudgetMilliseconds", "0")]
    [InlineData("Webhooks:InboxRetentionDays", "0")]
    [InlineData("Webhooks:InboxRetentionDays", "100000")]
    public async Task A_webhook_setting_out_of_range_stops_start_up_naming_it(string key, string value)
    {
        var message = await app.StartUpFailureWithAsync(key, value);
        Assert.Contains(key.Replace(":", "__", StringComparison.Ordinal), message);
    }
}
