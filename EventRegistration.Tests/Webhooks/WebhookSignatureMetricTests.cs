using System.Text;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Webhooks;

/// <summary>The counter behind the alert on webhook signature failures (infra/app/alerts.bicep).</summary>
public sealed class WebhookSignatureMetricTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Refused_signatures_are_counted_as_unverified_webhooks_and_a_genuine_one_is_not()
    {
        using var recorded = new RecordedMeasurements(app, "eventregistration.webhooks");

        var body = Encoding.UTF8.GetBytes(Webhook.Payment("payment.failed", TestApp.NewPaymentId(), "order_NoSuchOrder0001", 50_000, "failed"));
        Assert.Equal(401, (await app.WebhookRawAsync(body, Headers(TestApp.WebhookSignature(body, "not-the-webhook-secret")))).Status);
        Assert.Equal(401, (await app.WebhookRawAsync(body, new Dictionary<string, string[]> { ["X-Razorpay-Event-Id"] = ["evt_NoSignature0001"] })).Status);
        Assert.Equal(200, (await app.WebhookRawAsync(body, Headers(TestApp.WebhookSignature(body)))).Status);

        var counted = recorded.All.Select(m => (Event: m.Tag("event"), Outcome: m.Tag("outcome"))).ToList();
        var refused = counted.Where(c => c.Event == "unverified").Select(c => c.Outcome).Order().ToList();
        Assert.Equal(["signature_invalid", "signature_missing"], refused);
        Assert.Contains(counted, c => c.Event == "payment.failed");
    }

    private static Dictionary<string, string[]> Headers(string signature) => new()
    {
        ["X-Razorpay-Signature"] = [signature],
        ["X-Razorpay-Event-Id"] = ["evt_SignatureMetric01"],
    };
}
