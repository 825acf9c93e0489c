using System.Text.Json.Nodes;
using EventRegistration.Functions.Admin.Cancellation;
using EventRegistration.Functions.Admin.Events;
using EventRegistration.Functions.Admin.Lookup;
using EventRegistration.Functions.Admin.Refunds;
using EventRegistration.Functions.Admin.Resends;
using EventRegistration.Tests.Infrastructure;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace EventRegistration.Tests.Admin;

/// <summary>The operator actions (cancel, refund, resend) called as the host calls them, and Razorpay's refund API answering every payment.</summary>
public static class AdminOperatorCalls
{
    public static string ReasonBody(string reason = "Venue flooded") => new JsonObject { ["reason"] = reason }.ToJsonString();

    public static async Task<HttpAnswer> CancelEventAsync(this TestApp app, string eventId, string body, string? key = AdminKeys.Operator)
    {
        var request = TestApp.Request(body, AdminKeys.With(key));
        return await TestApp.ExecuteAsync(request, await app.Function<CancelEventFunction>().AdminCancelEvent(request, eventId));
    }

    public static Task<HttpAnswer> CancelEventAsync(this TestApp app, Guid eventId, string reason = "Venue flooded") =>
        app.CancelEventAsync(eventId.ToString(), ReasonBody(reason));

    public static async Task<HttpAnswer> GetEventAsync(this TestApp app, string eventId, string? key = AdminKeys.Organiser)
    {
        var request = TestApp.Request("", AdminKeys.With(key));
        request.Method = "GET";
        return await TestApp.ExecuteAsync(request, await app.Function<AdminEventsFunction>().AdminGetEvent(request, eventId));
    }

    public static async Task<HttpAnswer> RefundRegistrationAsync(this TestApp app, string registrationId, string body, string? key = AdminKeys.Operator)
    {
        var request = TestApp.Request(body, AdminKeys.With(key));
        return await TestApp.ExecuteAsync(request, await app.Function<RefundRegistrationFunction>().AdminRefundRegistration(request, registrationId));
    }

    public static Task<HttpAnswer> RefundRegistrationAsync(this TestApp app, Guid registrationId, string reason = "Member asked, cannot attend") =>
        app.RefundRegistrationAsync(registrationId.ToString(), ReasonBody(reason));

    public static async Task<HttpAnswer> ResendTicketAsync(this TestApp app, string registrationId, string body, string? requestKey,
        string? key = AdminKeys.Operator)
    {
        var headers = AdminKeys.With(key);
        if (requestKey is not null)
        {
            headers[ResendTicketFunction.KeyHeader] = [requestKey];
        }

        var request = TestApp.Request(body, headers);
        return await TestApp.ExecuteAsync(request, await app.Function<ResendTicketFunction>().AdminResendTicket(request, registrationId));
    }

    public static Task<HttpAnswer> ResendTicketAsync(this TestApp app, Guid registrationId, string requestKey, string reason = "Member lost the message") =>
        app.ResendTicketAsync(registrationId.ToString(), ReasonBody(reason), requestKey);

    public static async Task<HttpAnswer> LookupAsync(this TestApp app, Guid registrationId)
    {
        var request = TestApp.Request("", AdminKeys.With(AdminKeys.Operator));
        request.Method = "GET";
        request.QueryString = new Microsoft.AspNetCore.Http.QueryString($"?registrationId={registrationId}");
        return await TestApp.ExecuteAsync(request, await app.Function<RegistrationLookupFunction>().AdminLookupRegistration(request));
    }

    /// <summary>The refund id the fake gives a payment's refund: one per payment, as Razorpay does for one idempotency key.</summary>
    public static string RefundIdOf(string paymentId) => "rfnd_" + paymentId["pay_".Length..];

    /// <summary>POST /v1/payments/{id}/refund answers a pending refund for any payment (the reconciliation's refund request).</summary>
    public static void AcceptEveryRefund(this FakeRazorpay razorpay) =>
        razorpay.Server.Given(Request.Create().WithPath(new RegexMatcher("^/v1/payments/pay_[A-Za-z0-9]+/refund$")).UsingPost())
            .AtPriority(8)
            .RespondWith(Response.Create().WithCallback(request =>
            {
                var paymentId = request.Path.Split('/')[3];
                return FakeResponses.Json(200, new JsonObject
                {
                    ["id"] = RefundIdOf(paymentId),
                    ["entity"] = "refund",
                    ["amount"] = 50_000,
                    ["currency"] = "INR",
                    ["payment_id"] = paymentId,
                    ["notes"] = new JsonArray(),
                    ["status"] = "pending",
                    ["speed_requested"] = "normal",
                    ["created_at"] = 1_764_000_200,
                }.ToJsonString());
            }));

    /// <summary>Razorpay's refund.processed webhook for the refund the fake gave this payment.</summary>
    public static Task<HttpAnswer> RefundProcessedAsync(this TestApp app, string paymentId, long amount = 50_000) =>
        app.WebhookAsync(Webhook.Refund("refund.processed", RefundIdOf(paymentId), paymentId, amount));
}
