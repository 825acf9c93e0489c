using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Http;
using EventRegistration.Functions.Infrastructure.Razorpay;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Admin.Lookup;

/// <summary>GET /api/admin/registrations/lookup?registrationId= | orderId= | paymentId=: one registration and its history. Operators; read-only.</summary>
public sealed class RegistrationLookupFunction(AdminAccess access, RegistrationLookupHandler handler, ILogger<RegistrationLookupFunction> logger)
{
    [Function(nameof(AdminLookupRegistration))]
    public async Task<IActionResult> AdminLookupRegistration(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "admin/registrations/lookup")] HttpRequest request)
    {
        if (AdminHttp.Refusal(access, request, AdminRole.Operator, out _) is { } refusal)
        {
            return refusal;
        }

        var given = new[] { "registrationId", "orderId", "paymentId" }.Where(name => request.Query.ContainsKey(name)).ToList();
        if (given.Count != 1)
        {
            return Problems.InvalidField("registrationId", "Give exactly one of 'registrationId', 'orderId' or 'paymentId'.");
        }

        var field = given[0];
        var value = request.Query[field].ToString();
        var (key, valid) = field switch
        {
            "registrationId" => (LookupKey.RegistrationId, Guid.TryParse(value, out _)),
            "orderId" => (LookupKey.OrderId, RazorpayIds.IsOrderId(value)),
            _ => (LookupKey.PaymentId, RazorpayIds.IsPaymentId(value)),
        };
        if (!valid)
        {
            return Problems.InvalidField(field, field == "registrationId"
                ? "'registrationId' must be a UUID."
                : $"'{field}' must be a Razorpay {(key == LookupKey.OrderId ? "order id (order_…)" : "payment id (pay_…)")}.");
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        return await HttpFailures.GuardAsync(logger, nameof(AdminLookupRegistration), async () =>
            await handler.FindAsync(key, value, cancellationToken) is { } found ? ApiResult.Ok(found) : Problems.RegistrationNotFound(field));
    }
}
