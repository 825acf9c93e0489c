using System.Text;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Http;

/// <summary>
/// Generated hostile requests on top of the hand-written table in <see cref="BadInputTests"/>:
/// truncations at every few bytes, control and bidi characters, deep nesting, invalid UTF-8,
/// SQL-looking text, huge numbers. Each must be a 4xx problem+json and leave the database as it was.
/// </summary>
public sealed class HostileInputTests(BadInputTests.World world) : IClassFixture<BadInputTests.World>
{
    private const string Placeholder = "{order}";

    private static readonly string[] NastyText =
    [
        "pay_\u0001\u0002", "pay_abc\n", "pay_abc\t", "pay_\u202Eevil", "pay_\u200Bzero", "pay_😀😀", "pay_abc def",
        "pay_'; drop table payments;--", "pay_\" or \"1\"=\"1", "pay_%00", "pay_../../etc/passwd", "PAY_UPPERCASE", " pay_leadingspace",
        "pay_abc\u0000", "pay_" + new string('x', 41),
    ];

    public static TheoryData<string, string> ConfirmBodies()
    {
        var data = new TheoryData<string, string>();
        const string valid = """{"razorpay_order_id":"{order}","razorpay_payment_id":"pay_THostile00001","razorpay_signature":"0000000000000000000000000000000000000000000000000000000000000000"}""";
        for (var cut = 1; cut < valid.Length; cut += 9)
        {
            data.Add($"truncated at {cut}", valid[..cut]);
        }

        foreach (var text in NastyText)
        {
            data.Add($"payment id {Escape(text)}", valid.Replace("pay_THostile00001", JsonEscape(text)));
            data.Add($"order id {Escape(text)}", valid.Replace("{order}", JsonEscape(text.Replace("pay_", "order_"))));
        }

        data.Add("deep nesting", new string('[', 200) + new string(']', 200));
        data.Add("number instead of object", "12345678901234567890123456789");
        data.Add("true", "true");
        data.Add("wrong case field names", valid.Replace("razorpay_order_id", "Razorpay_Order_Id"));
        return data;
    }

    public static TheoryData<string, string> OrderBodies()
    {
        var data = new TheoryData<string, string>();
        const string valid = """{"memberId":"{member}"}""";
        for (var cut = 1; cut < valid.Length; cut += 4)
        {
            data.Add($"truncated at {cut}", valid[..cut]);
        }

        foreach (var value in new[] { "1e309", "-1", "99999999999999999999999", "true", "[]", "\"{member}\\u0000\"", "\"'; delete from members;--\"", "\"\\u202E{member}\"" })
        {
            data.Add($"memberId {value}", "{\"memberId\":" + value + "}");
        }

        return data;
    }

    public static TheoryData<string, string> WebhookBodies()
    {
        var data = new TheoryData<string, string>();
        var valid = Webhook.Payment("payment.captured", "pay_THostileHook01", Placeholder, 50_000, "captured");
        for (var cut = 1; cut < valid.Length; cut += valid.Length / 12)
        {
            data.Add($"signed, truncated at {cut}", valid[..cut]);
        }

        data.Add("signed, amount 1e400", valid.Replace("\"amount\":50000", "\"amount\":1e400"));
        data.Add("signed, amount fraction", valid.Replace("\"amount\":50000", "\"amount\":500.5"));
        data.Add("signed, amount negative", valid.Replace("\"amount\":50000", "\"amount\":-1"));
        data.Add("signed, amount above long", valid.Replace("\"amount\":50000", "\"amount\":9223372036854775808"));
        data.Add("signed, payment id sql", valid.Replace("pay_THostileHook01", "pay_x' or 1=1"));
        data.Add("signed, payment id control", valid.Replace("pay_THostileHook01", "pay_\\u0007bell"));
        data.Add("signed, currency emoji", valid.Replace("\"currency\":\"INR\"", "\"currency\":\"😀\""));
        data.Add("signed, payload is an array", """{"event":"payment.captured","payload":[]}""");
        data.Add("signed, entity is a string", """{"event":"payment.captured","payload":{"payment":{"entity":"pay_x"}}}""");
        data.Add("signed, duplicate event keys", """{"event":"payment.captured","event":"refund.processed","payload":{}}""");
        data.Add("signed, deep nesting", "{\"event\":\"x\",\"payload\":" + new string('[', 100) + new string(']', 100) + "}");
        return data;
    }

    [Theory]
    [MemberData(nameof(ConfirmBodies))]
    public async Task Hostile_checkout_confirmations_are_refused(string name, string body)
    {
        _ = name;
        await AssertRefusedAsync(() => world.ConfirmRawAsync(world.Fill(body)));
    }

    [Theory]
    [MemberData(nameof(OrderBodies))]
    public async Task Hostile_order_requests_are_refused(string name, string body)
    {
        _ = name;
        await AssertRefusedAsync(() => world.CreateOrderRawAsync(world.EventId.ToString(), world.Fill(body)));
    }

    [Theory]
    [MemberData(nameof(WebhookBodies))]
    public async Task Hostile_signed_webhooks_are_refused(string name, string body)
    {
        _ = name;
        var bytes = Encoding.UTF8.GetBytes(world.Fill(body));
        await AssertRefusedAsync(() => world.WebhookRawAsync(bytes, new Dictionary<string, string[]>
        {
            ["X-Razorpay-Signature"] = [TestApp.WebhookSignature(bytes)],
            ["x-razorpay-event-id"] = ["evt_Hostile" + Guid.NewGuid().ToString("N")[..10]],
        }));
    }

    [Fact]
    public async Task Invalid_utf8_is_refused_everywhere()
    {
        byte[] bytes = [(byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}'];
        await AssertRefusedAsync(async () =>
        {
            var request = TestApp.Request(bytes);
            return await TestApp.ExecuteAsync(request, await world.Function<Functions.Confirmation.ConfirmCheckoutFunction>().ConfirmCheckout(request));
        });
        await AssertRefusedAsync(() => world.WebhookRawAsync(bytes, new Dictionary<string, string[]>
        {
            ["X-Razorpay-Signature"] = [TestApp.WebhookSignature(bytes)],
            ["x-razorpay-event-id"] = ["evt_HostileUtf8"],
        }));
    }

    [Fact]
    public async Task A_very_long_event_id_header_is_refused()
    {
        var body = Encoding.UTF8.GetBytes(Webhook.Payment("payment.authorized", "pay_THostileHook02", world.OrderId, 50_000, "authorized"));
        await AssertRefusedAsync(() => world.WebhookRawAsync(body, new Dictionary<string, string[]>
        {
            ["X-Razorpay-Signature"] = [TestApp.WebhookSignature(body)],
            ["x-razorpay-event-id"] = [new string('e', 1000)],
        }));
    }

    private async Task AssertRefusedAsync(Func<Task<HttpAnswer>> call)
    {
        var before = await DatabaseSnapshot.TakeAsync(world);
        var answer = await call();
        Assert.True(answer.Status is >= 400 and < 500, answer.ToString());
        Assert.Equal("application/problem+json", answer.ContentType);
        Assert.StartsWith("urn:eventregistration:problem:", answer.ProblemType);
        Assert.Equal(before, await DatabaseSnapshot.TakeAsync(world));
    }

    private static string Escape(string text) => string.Concat(text.Select(c => char.IsControl(c) || c > 127 ? $"\\u{(int)c:X4}" : c.ToString()));

    private static string JsonEscape(string text) => System.Text.Json.JsonEncodedText.Encode(text).ToString();
}
