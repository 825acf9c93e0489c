using System.Text;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Http;

/// <summary>
/// Every bad request gets a 4xx problem+json naming what is wrong, and changes nothing.
/// Placeholders in the cases ({event}, {member}, {order}, …) are real rows made once per class.
/// </summary>
public sealed class BadInputTests(BadInputTests.World world) : IClassFixture<BadInputTests.World>
{
    public sealed class World : TestApp
    {
        public Guid EventId { get; private set; }
        public Guid ClosedEventId { get; private set; }
        public Guid MemberId { get; private set; }
        public string OrderId { get; private set; } = "";
        public string OtherOrderId { get; private set; } = "";

        public override async Task InitializeAsync()
        {
            await base.InitializeAsync();
            EventId = await CreateEventAsync();
            ClosedEventId = await CreateEventAsync(status: "closed");
            MemberId = await CreateMemberAsync();
            (_, OrderId) = await this.OrderAsync(EventId, MemberId);
            (_, OtherOrderId) = await this.OrderAsync(EventId, await CreateMemberAsync());
        }

        public string Fill(string text) => text
            .Replace("{event}", EventId.ToString())
            .Replace("{closedEvent}", ClosedEventId.ToString())
            .Replace("{member}", MemberId.ToString())
            .Replace("{otherOrder}", OtherOrderId)
            .Replace("{order}", OrderId)
            .Replace("{unknown}", Guid.NewGuid().ToString());
    }

    private const string Problem = "urn:eventregistration:problem:";
    private static readonly string Huge = "{\"memberId\":\"" + new string('a', 300 * 1024) + "\"}";
    private const string GoodPayment = "pay_TBadInput000001";

    public static TheoryData<string, string, string, int, string> OrderCases() => new()
    {
        // case, eventId in the route, body, status, problem type
        { "route id not a uuid", "not-a-uuid", """{"memberId":"{member}"}""", 400, "invalid-field" },
        { "route id sql", "1;drop table events", """{"memberId":"{member}"}""", 400, "invalid-field" },
        { "empty body", "{event}", "", 400, "malformed-json" },
        { "truncated json", "{event}", """{"memberId":""", 400, "malformed-json" },
        { "array body", "{event}", "[]", 400, "malformed-json" },
        { "string body", "{event}", "\"hello\"", 400, "malformed-json" },
        { "no memberId", "{event}", "{}", 400, "missing-field" },
        { "memberId null", "{event}", """{"memberId":null}""", 400, "missing-field" },
        { "memberId number", "{event}", """{"memberId":12345}""", 400, "invalid-field" },
        { "memberId object", "{event}", """{"memberId":{"id":"{member}"}}""", 400, "invalid-field" },
        { "memberId not uuid", "{event}", """{"memberId":"' or 1=1 --"}""", 400, "invalid-field" },
        { "memberId empty", "{event}", """{"memberId":""}""", 400, "invalid-field" },
        { "duplicate memberId", "{event}", """{"memberId":"{member}","memberId":"{unknown}"}""", 400, "malformed-json" },
        { "comment in json", "{event}", """{"memberId":"{member}" /* hi */}""", 400, "malformed-json" },
        { "unknown event", "{unknown}", """{"memberId":"{member}"}""", 404, "event-not-found" },
        { "unknown member", "{event}", """{"memberId":"{unknown}"}""", 404, "member-not-found" },
        { "closed event", "{closedEvent}", """{"memberId":"{member}"}""", 409, "event-not-open" },
        { "oversized body", "{event}", Huge, 413, "body-too-large" },
    };

    public static TheoryData<string, string, int, string> ConfirmCases() => new()
    {
        { "empty body", "", 400, "malformed-json" },
        { "json null", "null", 400, "malformed-json" },
        { "trailing comma", """{"razorpay_order_id":"{order}",}""", 400, "malformed-json" },
        { "nothing", "{}", 400, "missing-field" },
        { "no payment id", """{"razorpay_order_id":"{order}","razorpay_signature":"SIG"}""", 400, "missing-field" },
        { "no signature", """{"razorpay_order_id":"{order}","razorpay_payment_id":"PAY"}""", 400, "missing-field" },
        { "order id sql", """{"razorpay_order_id":"order_x'; drop table events;--","razorpay_payment_id":"PAY","razorpay_signature":"SIG"}""", 400, "invalid-field" },
        { "order id number", """{"razorpay_order_id":42,"razorpay_payment_id":"PAY","razorpay_signature":"SIG"}""", 400, "invalid-field" },
        { "payment id prefix only", """{"razorpay_order_id":"{order}","razorpay_payment_id":"pay_","razorpay_signature":"SIG"}""", 400, "invalid-field" },
        { "payment id wrong prefix", """{"razorpay_order_id":"{order}","razorpay_payment_id":"order_abc","razorpay_signature":"SIG"}""", 400, "invalid-field" },
        { "payment id unicode", """{"razorpay_order_id":"{order}","razorpay_payment_id":"pay_ÄÖÜ\u0000x","razorpay_signature":"SIG"}""", 400, "invalid-field" },
        { "payment id huge", "{\"razorpay_order_id\":\"{order}\",\"razorpay_payment_id\":\"pay_" + new string('9', 500) + "\",\"razorpay_signature\":\"SIG\"}", 400, "invalid-field" },
        { "signature not hex", "{\"razorpay_order_id\":\"{order}\",\"razorpay_payment_id\":\"PAY\",\"razorpay_signature\":\"" + new string('z', 64) + "\"}", 400, "invalid-field" },
        { "signature short", """{"razorpay_order_id":"{order}","razorpay_payment_id":"PAY","razorpay_signature":"abc"}""", 400, "invalid-field" },
        { "signature array", """{"razorpay_order_id":"{order}","razorpay_payment_id":"PAY","razorpay_signature":["SIG"]}""", 400, "invalid-field" },
        { "unknown order", """{"razorpay_order_id":"order_TUnknown00001","razorpay_payment_id":"PAY","razorpay_signature":"SIG"}""", 404, "order-not-found" },
        { "signature with the wrong secret", """{"razorpay_order_id":"{order}","razorpay_payment_id":"PAY","razorpay_signature":"WRONGSECRET"}""", 401, "signature-invalid" },
        { "signature of another order replayed", """{"razorpay_order_id":"{order}","razorpay_payment_id":"PAY","razorpay_signature":"OTHERORDER"}""", 401, "signature-invalid" },
        { "signature of another payment", """{"razorpay_order_id":"{order}","razorpay_payment_id":"PAY","razorpay_signature":"OTHERPAYMENT"}""", 401, "signature-invalid" },
        { "oversized body", Huge, 413, "body-too-large" },
    };

    public static TheoryData<string, string, string?, string?, string?, int, string> WebhookCases() => new()
    {
        // case, body, signature (SIGN = valid; OTHERBODY / WRONGSECRET / TWO / null), event id header, override, status, problem type
        { "no signature", "CAPTURED", null, "evt_Bad0000000001", null, 401, "signature-missing" },
        { "empty signature", "CAPTURED", "", "evt_Bad0000000002", null, 401, "signature-missing" },
        { "garbage signature", "CAPTURED", "not-a-signature", "evt_Bad0000000003", null, 401, "signature-invalid" },
        { "signature of another body", "CAPTURED", "OTHERBODY", "evt_Bad0000000004", null, 401, "signature-invalid" },
        { "signature with the wrong secret", "CAPTURED", "WRONGSECRET", "evt_Bad0000000005", null, 401, "signature-invalid" },
        { "two signature headers", "CAPTURED", "TWO", "evt_Bad0000000006", null, 401, "signature-invalid" },
        { "no event id", "CAPTURED", "SIGN", null, null, 400, "missing-header" },
        { "event id with spaces", "CAPTURED", "SIGN", "evt one; drop", null, 400, "invalid-field" },
        { "signed truncated json", """{"event":"payment.captured","payload":{""", "SIGN", "evt_Bad0000000007", null, 400, "malformed-json" },
        { "signed array", "[1,2,3]", "SIGN", "evt_Bad0000000008", null, 400, "malformed-json" },
        { "signed without event", """{"payload":{}}""", "SIGN", "evt_Bad0000000009", null, 400, "missing-field" },
        { "event is a number", """{"event":7,"payload":{}}""", "SIGN", "evt_Bad0000000010", null, 400, "invalid-field" },
        { "captured without payment", """{"event":"payment.captured","payload":{}}""", "SIGN", "evt_Bad0000000011", null, 400, "missing-field" },
        { "payment id malformed", "CAPTURED", "SIGN", "evt_Bad0000000012", "\"id\":\"xyz\"", 400, "invalid-field" },
        { "order id malformed", "CAPTURED", "SIGN", "evt_Bad0000000013", "\"order_id\":\"order_$$$\"", 400, "invalid-field" },
        { "negative amount", "CAPTURED", "SIGN", "evt_Bad0000000014", "\"amount\":-5000", 400, "invalid-field" },
        { "amount as string", "CAPTURED", "SIGN", "evt_Bad0000000015", "\"amount\":\"50000\"", 400, "invalid-field" },
        { "amount too large", "CAPTURED", "SIGN", "evt_Bad0000000016", "\"amount\":1e400", 400, "invalid-field" },
        { "lowercase currency", "CAPTURED", "SIGN", "evt_Bad0000000017", "\"currency\":\"inr\"", 400, "invalid-field" },
        { "notes as a string", "CAPTURED", "SIGN", "evt_Bad0000000018", "\"notes\":\"hello\"", 400, "invalid-field" },
        { "refund without payment id", """{"event":"refund.processed","payload":{"refund":{"entity":{"id":"rfnd_T1","amount":100}}}}""", "SIGN", "evt_Bad0000000019", null, 400, "invalid-field" },
        { "oversized", "HUGE", "SIGN", "evt_Bad0000000020", null, 413, "body-too-large" },
        // .NET's "$" also matches before a final newline; the database's checks do not.
        { "payment id with a trailing newline", "CAPTURED", "SIGN", "evt_Bad0000000021", "\"id\":\"pay_TWebhookBad001\\n\"", 400, "invalid-field" },
        { "order id with a trailing newline", "CAPTURED", "SIGN", "evt_Bad0000000022", "\"order_id\":\"order_TWebhookBad01\\n\"", 400, "invalid-field" },
        { "refund id with a trailing newline", """{"event":"refund.processed","payload":{"refund":{"entity":{"id":"rfnd_T1\n","payment_id":"pay_TWebhookBad002","amount":100}}}}""", "SIGN", "evt_Bad0000000023", null, 400, "invalid-field" },
    };

    [Theory]
    [MemberData(nameof(OrderCases))]
    public async Task Create_order_refuses(string name, string eventId, string body, int status, string type)
    {
        _ = name;
        await AssertRefusedAsync(() => world.CreateOrderRawAsync(world.Fill(eventId), world.Fill(body)), status, type);
    }

    [Theory]
    [MemberData(nameof(ConfirmCases))]
    public async Task Confirm_checkout_refuses(string name, string body, int status, string type)
    {
        _ = name;
        var text = world.Fill(body).Replace("\"PAY\"", $"\"{GoodPayment}\"");
        var signature = body.Contains("order_TUnknown00001") ? TestApp.CheckoutSignature("order_TUnknown00001", GoodPayment)
            : body.Contains("WRONGSECRET") ? TestApp.CheckoutSignature(world.OrderId, GoodPayment, "not-the-key-secret")
            : body.Contains("OTHERORDER") ? TestApp.CheckoutSignature(world.OtherOrderId, GoodPayment)
            : body.Contains("OTHERPAYMENT") ? TestApp.CheckoutSignature(world.OrderId, "pay_TSomeoneElse01")
            : TestApp.CheckoutSignature(world.OrderId, GoodPayment);
        text = text.Replace("\"SIG\"", $"\"{signature}\"").Replace("WRONGSECRET", signature).Replace("OTHERORDER", signature).Replace("OTHERPAYMENT", signature);
        await AssertRefusedAsync(() => world.ConfirmRawAsync(text), status, type);
    }

    [Theory]
    [MemberData(nameof(WebhookCases))]
    public async Task Webhook_refuses(string name, string body, string? signature, string? eventId, string? replace, int status, string type)
    {
        _ = name;
        var text = body switch
        {
            "CAPTURED" => Webhook.Payment("payment.captured", "pay_TWebhookBad001", world.OrderId, 50_000, "captured"),
            "HUGE" => Huge,
            _ => body,
        };
        if (replace is not null)
        {
            var key = replace[..(replace.IndexOf(':') + 1)];
            var start = text.IndexOf(key, StringComparison.Ordinal);
            var end = text.IndexOfAny([',', '}'], start + key.Length);
            if (text[start + key.Length] == '[')
            {
                end = text.IndexOf(']', start) + 1;
            }

            text = text[..start] + replace + text[end..];
        }

        var bytes = Encoding.UTF8.GetBytes(text);
        var headers = new Dictionary<string, string[]>();
        switch (signature)
        {
            case "SIGN": headers["X-Razorpay-Signature"] = [TestApp.WebhookSignature(bytes)]; break;
            case "OTHERBODY": headers["X-Razorpay-Signature"] = [TestApp.WebhookSignature(Encoding.UTF8.GetBytes(text + " "))]; break;
            case "WRONGSECRET": headers["X-Razorpay-Signature"] = [TestApp.WebhookSignature(bytes, "some-other-secret")]; break;
            case "TWO": headers["X-Razorpay-Signature"] = [TestApp.WebhookSignature(bytes), TestApp.WebhookSignature(bytes)]; break;
            case null: break;
            default: headers["X-Razorpay-Signature"] = [signature]; break;
        }

        if (eventId is not null)
        {
            headers["x-razorpay-event-id"] = [eventId];
        }

        await AssertRefusedAsync(() => world.WebhookRawAsync(bytes, headers), status, type);
    }

    [Fact]
    public async Task A_valid_checkout_signature_with_a_trailing_newline_is_refused()
    {
        var body = new System.Text.Json.Nodes.JsonObject
        {
            ["razorpay_order_id"] = world.OrderId,
            ["razorpay_payment_id"] = GoodPayment,
            ["razorpay_signature"] = TestApp.CheckoutSignature(world.OrderId, GoodPayment) + "\n",
        }.ToJsonString();

        await AssertRefusedAsync(() => world.ConfirmRawAsync(body), 400, "invalid-field");
    }

    private async Task AssertRefusedAsync(Func<Task<HttpAnswer>> call, int status, string type)
    {
        var before = await DatabaseSnapshot.TakeAsync(world);
        var answer = await call();
        Assert.True(status == answer.Status, answer.ToString());
        Assert.Equal("application/problem+json", answer.ContentType);
        Assert.Equal(Problem + type, answer.ProblemType);
        Assert.Equal(status, answer.Json.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(answer.Json.GetProperty("detail").GetString()));
        Assert.Equal(before, await DatabaseSnapshot.TakeAsync(world));
    }
}
