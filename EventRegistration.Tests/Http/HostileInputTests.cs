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

    /// <summary>
    /// Text a JSON parser accepts but that is not Unicode: a lone surrogate escape ("\ud800") or bytes
    /// that are not UTF-8 inside a string. Reading such a string throws, so each route must refuse
    /// the whole body up front rather than meet it in the middle of its work.
    /// </summary>
    public static TheoryData<string, string, string> NotUnicodeBodies()
    {
        const string invalidUtf8 = "\\xC3\\x28";   // a lead byte followed by a non-continuation byte
        const string encodedSurrogate = "\\xED\\xA0\\x80";   // U+D800 encoded as UTF-8, which UTF-8 forbids
        var captured = Webhook.Payment("payment.captured", "pay_TUnicode00001", Placeholder, 50_000, "captured");
        var failed = Webhook.Payment("payment.failed", "pay_TUnicode00002", Placeholder, 50_000, "failed");
        var refund = Webhook.Refund("refund.processed", "rfnd_TUnicode0001", "pay_TUnicode00003", 50_000);
        return new TheoryData<string, string, string>
        {
            // route, case, body (\xNN stands for a raw byte)
            { "order", "memberId a lone high surrogate", """{"memberId":"\ud800"}""" },
            { "order", "memberId a lone low surrogate", """{"memberId":"\udc00{member}"}""" },
            { "order", "memberId invalid utf-8", "{\"memberId\":\"" + invalidUtf8 + "\"}" },
            { "order", "memberId an encoded surrogate", "{\"memberId\":\"" + encodedSurrogate + "\"}" },
            { "checkout", "order id a lone surrogate", """{"razorpay_order_id":"order_\ud800","razorpay_payment_id":"pay_THostile00001","razorpay_signature":"SIG"}""" },
            { "checkout", "payment id a lone surrogate", """{"razorpay_order_id":"{order}","razorpay_payment_id":"pay_\udfff","razorpay_signature":"SIG"}""" },
            { "checkout", "signature reversed surrogates", """{"razorpay_order_id":"{order}","razorpay_payment_id":"pay_THostile00001","razorpay_signature":"\udc00\ud800"}""" },
            { "checkout", "order id invalid utf-8", "{\"razorpay_order_id\":\"order_" + invalidUtf8 + "\",\"razorpay_payment_id\":\"pay_THostile00001\",\"razorpay_signature\":\"SIG\"}" },
            { "webhook", "event a lone surrogate", """{"event":"payment.\ud800","payload":{}}""" },
            { "webhook", "event invalid utf-8", "{\"event\":\"payment." + invalidUtf8 + "\",\"payload\":{}}" },
            { "webhook", "payment method a lone surrogate", captured.Replace("\"method\":\"upi\"", "\"method\":\"\\ud800\"") },
            { "webhook", "payment status invalid utf-8", captured.Replace("\"status\":\"captured\"", "\"status\":\"" + encodedSurrogate + "\"") },
            { "webhook", "failure description a lone surrogate", failed.Replace("Payment failed at the bank", "\\udbff") },
            { "webhook", "notes value a lone surrogate", captured.Replace("\"notes\":[]", "\"notes\":{\"name\":\"\\ud83d\"}") },
            { "webhook", "refund status a lone surrogate", refund.Replace("\"status\":\"processed\"", "\"status\":\"\\ud800\"") },
            { "webhook", "an ignored field invalid utf-8", """{"entity":"event","event":"settlement.processed","payload":{},"note":"\xFF\xFE"}""" },
        };
    }

    [Theory]
    [MemberData(nameof(NotUnicodeBodies))]
    public async Task Text_that_is_not_unicode_is_refused_on_every_route(string route, string name, string body)
    {
        _ = name;
        var bytes = RawBytes(world.Fill(body).Replace("\"SIG\"", "\"" + new string('0', 64) + "\""));
        var answer = await AssertRefusedAsync(async () =>
        {
            var request = TestApp.Request(bytes);
            return route switch
            {
                "order" => await TestApp.ExecuteAsync(request, await world.Function<Functions.Orders.CreateOrderFunction>().CreateOrder(request, world.EventId.ToString())),
                "checkout" => await TestApp.ExecuteAsync(request, await world.Function<Functions.Confirmation.ConfirmCheckoutFunction>().ConfirmCheckout(request)),
                _ => await world.WebhookRawAsync(bytes, new Dictionary<string, string[]>
                {
                    ["X-Razorpay-Signature"] = [TestApp.WebhookSignature(bytes)],
                    ["x-razorpay-event-id"] = ["evt_Unicode" + Guid.NewGuid().ToString("N")[..10]],
                }),
            };
        });
        Assert.Equal(400, answer.Status);
        Assert.Equal("urn:eventregistration:problem:malformed-json", answer.ProblemType);
    }

    /// <summary>The body's characters as UTF-8, except that \xNN stands for the raw byte NN.</summary>
    private static byte[] RawBytes(string text)
    {
        var bytes = new List<byte>();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && i + 3 < text.Length && text[i + 1] == 'x')
            {
                bytes.Add(Convert.ToByte(text.Substring(i + 2, 2), 16));
                i += 3;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(text[i].ToString()));
            }
        }

        return bytes.ToArray();
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

    private async Task<HttpAnswer> AssertRefusedAsync(Func<Task<HttpAnswer>> call)
    {
        var before = await DatabaseSnapshot.TakeAsync(world);
        var answer = await call();
        Assert.True(answer.Status is >= 400 and < 500, answer.ToString());
        Assert.Equal("application/problem+json", answer.ContentType);
        Assert.StartsWith("urn:eventregistration:problem:", answer.ProblemType);
        Assert.Equal(before, await DatabaseSnapshot.TakeAsync(world));
        return answer;
    }

    private static string Escape(string text) => string.Concat(text.Select(c => char.IsControl(c) || c > 127 ? $"\\u{(int)c:X4}" : c.ToString()));

    private static string JsonEscape(string text) => System.Text.Json.JsonEncodedText.Encode(text).ToString();
}
