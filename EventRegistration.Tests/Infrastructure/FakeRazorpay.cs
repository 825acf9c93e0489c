using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using WireMock.Types;
using WireMock.Util;

namespace EventRegistration.Tests.Infrastructure;

/// <summary>
/// Razorpay's REST API as a real HTTP server on 127.0.0.1 (WireMock.Net). Orders get fresh ids;
/// every order created is remembered so a test can check what was sent.
/// </summary>
public sealed class FakeRazorpay : IDisposable
{
    public const string KeyId = "rzp_test_fakekey123";
    public const string KeySecret = "test-key-secret";
    public const string WebhookSecret = "test-webhook-secret";
    public const string PreviousWebhookSecret = "previous-webhook-secret";

    private int _orderSequence;

    public FakeRazorpay()
    {
        Server = FakeResponses.StartServer();
        AnswerOrdersNormally();
    }

    public WireMockServer Server { get; }
    public string BaseUrl => Server.Urls[0] + "/";
    public ConcurrentQueue<JsonObject> CreatedOrders { get; } = new();

    public void AnswerOrdersNormally()
    {
        Server.Given(Request.Create().WithPath("/v1/orders").UsingPost())
            .AtPriority(10)
            .RespondWith(Response.Create().WithCallback(request =>
            {
                var body = JsonNode.Parse(request.Body!)!.AsObject();
                var id = $"order_T{Interlocked.Increment(ref _orderSequence):D6}{Guid.NewGuid().ToString("N")[..6]}";
                var answer = new JsonObject
                {
                    ["id"] = id,
                    ["entity"] = "order",
                    ["amount"] = body["amount"]!.GetValue<long>(),
                    ["currency"] = body["currency"]!.GetValue<string>(),
                    ["receipt"] = body["receipt"]!.GetValue<string>(),
                    ["status"] = "created",
                    ["notes"] = body["notes"]?.DeepClone(),
                };
                CreatedOrders.Enqueue(answer);
                return FakeResponses.Json(200, answer.ToJsonString());
            }));
    }

    /// <summary>The next order creations answer <paramref name="status"/> with a Razorpay error body.</summary>
    public void FailOrders(int status)
    {
        Server.Given(Request.Create().WithPath("/v1/orders").UsingPost())
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(status)
                .WithHeader("Content-Type", "application/json")
                .WithBody("""{"error":{"code":"SERVER_ERROR","description":"The fake is failing on purpose","field":null}}"""));
    }

    public void Reset()
    {
        Server.Reset();
        AnswerOrdersNormally();
    }

    public void Dispose() => Server.Stop();
}
