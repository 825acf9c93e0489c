using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Queues.Models;
using EventRegistration.Functions.Reconciliation;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Azure.Functions.Worker;
using WireMock.Logging;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace EventRegistration.Tests.Reconciliation;

/// <summary>A reconciliation run as the operator sees it in <c>reconciliation_runs</c>.</summary>
public sealed record RunRow(long Id, string Status, int ErrorCount, string Summary)
{
    public int Count(string step, string outcome) =>
        JsonDocument.Parse(Summary).RootElement.TryGetProperty(step, out var counts) && counts.TryGetProperty(outcome, out var n) ? n.GetInt32() : 0;

    public override string ToString() => $"run {Id} {Status} errors={ErrorCount} {Summary}";
}

/// <summary>Runs the timer function as the host does, and Razorpay's reconciliation endpoints on the fake.</summary>
public static class ReconciliationHarness
{
    /// <summary>Calls the Reconcile function (created from the app's services) with a TimerInfo, then reads the run it recorded.</summary>
    public static async Task<RunRow> ReconcileAsync(this TestApp app, bool isPastDue = false)
    {
        var before = await app.ScalarAsync<long>("select coalesce(max(id), 0) from reconciliation_runs");
        await app.Function<ReconcileFunction>().Reconcile(new TimerInfo { IsPastDue = isPastDue }, CancellationToken.None);
        var runs = await app.RunsAfterAsync(before);
        return Assert.Single(runs);
    }

    public static Task<List<RunRow>> RunsAfterAsync(this TestApp app, long id) =>
        app.QueryAsync<RunRow>("select id, status, error_count, summary::text as summary from reconciliation_runs where id > @id order by id", new { id });

    /// <summary>Makes every age-based threshold pass: orders, unsent tickets, inbox (not the seat hold's 15 minutes).</summary>
    public static void AgeBeyondGrace(this TestApp app) => app.Clock.Advance(TimeSpan.FromMinutes(6));

    public static JsonObject Payment(string paymentId, string orderId, long amount, string status, string currency = "INR") =>
        Webhook.PaymentEntity(paymentId, orderId, amount, status, currency);

    /// <summary>GET /v1/orders/{orderId}/payments answers these payments.</summary>
    public static void OrderPayments(this FakeRazorpay razorpay, string orderId, params JsonObject[] payments) =>
        razorpay.Server.Given(Request.Create().WithPath($"/v1/orders/{orderId}/payments").UsingGet())
            .AtPriority(5)
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody(new JsonObject
                {
                    ["entity"] = "collection",
                    ["count"] = payments.Length,
                    ["items"] = new JsonArray(payments.Select(p => (JsonNode)p.DeepClone()).ToArray()),
                }.ToJsonString()));

    /// <summary>Any request to <paramref name="path"/> answers <paramref name="status"/> with a Razorpay error body.</summary>
    public static void Fail(this FakeRazorpay razorpay, string path, int status, string method = "GET") =>
        razorpay.Server.Given(Request.Create().WithPath(path).UsingMethod(method))
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(status).WithHeader("Content-Type", "application/json")
                .WithBody(new JsonObject
                {
                    ["error"] = new JsonObject
                    {
                        ["code"] = status >= 500 ? "SERVER_ERROR" : "BAD_REQUEST_ERROR",
                        ["description"] = $"The fake answers {status} on purpose",
                        ["field"] = null,
                    },
                }.ToJsonString()));

    /// <summary>POST /v1/payments/{paymentId}/refund answers a pending refund with the given id.</summary>
    public static void RefundAccepted(this FakeRazorpay razorpay, string paymentId, string refundId, long amount, string status = "pending") =>
        razorpay.Server.Given(Request.Create().WithPath($"/v1/payments/{paymentId}/refund").UsingPost())
            .AtPriority(5)
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody(RefundBody(paymentId, refundId, amount, status)));

    /// <summary>GET /v1/refunds/{refundId}.</summary>
    public static void RefundState(this FakeRazorpay razorpay, string paymentId, string refundId, long amount, string status) =>
        razorpay.Server.Given(Request.Create().WithPath($"/v1/refunds/{refundId}").UsingGet())
            .AtPriority(5)
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody(RefundBody(paymentId, refundId, amount, status)));

    private static string RefundBody(string paymentId, string refundId, long amount, string status) => new JsonObject
    {
        ["id"] = refundId,
        ["entity"] = "refund",
        ["amount"] = amount,
        ["currency"] = "INR",
        ["payment_id"] = paymentId,
        ["notes"] = new JsonArray(),
        ["receipt"] = null,
        ["status"] = status,
        ["speed_requested"] = "normal",
        ["created_at"] = 1_764_000_200,
    }.ToJsonString();

    public static IReadOnlyList<ILogEntry> Requests(this FakeRazorpay razorpay, string path, string method) =>
        razorpay.Server.LogEntries
            .Where(e => e.RequestMessage!.Path == path && string.Equals(e.RequestMessage.Method, method, StringComparison.OrdinalIgnoreCase))
            .ToList();

    /// <summary>Every message on the class's ticket queue, left in place.</summary>
    public static async Task<List<Guid>> QueuedTicketsAsync(this TestApp app)
    {
        var queue = app.TicketQueueClient();
        await queue.CreateIfNotExistsAsync();
        PeekedMessage[] peeked = (await queue.PeekMessagesAsync(maxMessages: 32)).Value;
        return peeked.Select(m => TestApp.ParseQueueMessage(m.Body.ToString())!.RegistrationId).ToList();
    }

    /// <summary>Takes every message off the class's ticket queue (delayed ones stay) and returns whose tickets they were.</summary>
    public static async Task<List<Guid>> DrainTicketQueueAsync(this TestApp app)
    {
        var queue = app.TicketQueueClient();
        await queue.CreateIfNotExistsAsync();
        var taken = new List<Guid>();
        while ((await queue.ReceiveMessagesAsync(32, TimeSpan.FromMinutes(5))).Value is { Length: > 0 } messages)
        {
            foreach (var message in messages)
            {
                taken.Add(TestApp.ParseQueueMessage(message.MessageText)!.RegistrationId);
                await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt);
            }
        }

        return taken;
    }

    public static async Task ClearTicketQueueAsync(this TestApp app)
    {
        var queue = app.TicketQueueClient();
        await queue.CreateIfNotExistsAsync();
        await queue.ClearMessagesAsync();
    }

    /// <summary>An order paid through the checkout callback, as in the normal flow.</summary>
    public static async Task<(Guid RegistrationId, string OrderId, string PaymentId)> PaidRegistrationAsync(this TestApp app, Guid eventId)
    {
        var member = await app.CreateMemberAsync();
        var (registrationId, orderId) = await app.OrderAsync(eventId, member);
        var paymentId = TestApp.NewPaymentId();
        var answer = await app.ConfirmAsync(orderId, paymentId);
        Assert.True(answer.Status == 200, answer.ToString());
        return (registrationId, orderId, paymentId);
    }
}

public static class RefundScenario
{
    /// <summary>
    /// A payment that arrives for a full event: A's hold expires, B takes the last seat and pays,
    /// then A's payment comes in. Returns A's registration (refund_due) and payment, and the event.
    /// Moves the clock 16 minutes.
    /// </summary>
    public static async Task<(Guid EventId, Guid RegistrationId, string PaymentId)> RefundDueAsync(this TestApp app)
    {
        var eventId = await app.CreateEventAsync(capacity: 1);
        var (registrationA, orderA) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        app.Clock.Advance(TimeSpan.FromMinutes(16));
        var (_, orderB) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        Assert.Equal(200, (await app.ConfirmAsync(orderB, TestApp.NewPaymentId())).Status);
        var paymentA = TestApp.NewPaymentId();
        var late = await app.ConfirmAsync(orderA, paymentA);
        Assert.Equal(200, late.Status);
        Assert.Equal("refund_due", late.Json.GetProperty("status").GetString());
        return (eventId, registrationA, paymentA);
    }
}
