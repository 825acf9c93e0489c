using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Infrastructure.Razorpay;

/// <summary>
/// Typed client for Razorpay's REST API (HTTP Basic auth with the key id and secret). Its
/// resilience pipeline retries only idempotent requests; order creation is not retried.
/// </summary>
public sealed class RazorpayClient(HttpClient http, IOptions<RazorpayOptions> options, ILogger<RazorpayClient> logger)
{
    public const string HttpClientName = "razorpay";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public Task<RazorpayOrder> CreateOrderAsync(long amountPaise, string currency, string receipt, IReadOnlyDictionary<string, string> notes, CancellationToken cancellationToken) =>
        SendAsync<RazorpayOrder>(HttpMethod.Post, "v1/orders", new { amount = amountPaise, currency, receipt, notes }, null, cancellationToken);

    public Task<RazorpayCollection<RazorpayPayment>> GetOrderPaymentsAsync(string orderId, CancellationToken cancellationToken) =>
        SendAsync<RazorpayCollection<RazorpayPayment>>(HttpMethod.Get, $"v1/orders/{Uri.EscapeDataString(orderId)}/payments", null, null, cancellationToken);

    public Task<RazorpayPayment> GetPaymentAsync(string paymentId, CancellationToken cancellationToken) =>
        SendAsync<RazorpayPayment>(HttpMethod.Get, $"v1/payments/{Uri.EscapeDataString(paymentId)}", null, null, cancellationToken);

    /// <summary>A refund's current state (pending | processed | failed), for a refund whose webhook has not come.</summary>
    public Task<RazorpayRefund> GetRefundAsync(string refundId, CancellationToken cancellationToken) =>
        SendAsync<RazorpayRefund>(HttpMethod.Get, $"v1/refunds/{Uri.EscapeDataString(refundId)}", null, null, cancellationToken);

    /// <summary>Full refund. The idempotency key makes a repeat of the same request a no-op at Razorpay; send the same body each time.</summary>
    public Task<RazorpayRefund> RefundAsync(string paymentId, string idempotencyKey, string receipt, IReadOnlyDictionary<string, string> notes, CancellationToken cancellationToken) =>
        SendAsync<RazorpayRefund>(HttpMethod.Post, $"v1/payments/{Uri.EscapeDataString(paymentId)}/refund",
            new { speed = "normal", receipt, notes }, idempotencyKey, cancellationToken);

    private async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, string? idempotencyKey, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path);
        var settings = options.Value;
        request.Headers.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{settings.KeyId}:{settings.KeySecret}")));
        if (idempotencyKey is not null)
        {
            request.Headers.Add("X-Refund-Idempotency", idempotencyKey);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: Json);
        }

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or TimeoutException
            || e.GetType().Name.Contains("Timeout", StringComparison.Ordinal) || e.GetType().Name.Contains("BrokenCircuit", StringComparison.Ordinal))
        {
            if (cancellationToken.IsCancellationRequested) throw;
            logger.LogWarning(e, "Razorpay {Method} {Path} did not answer", method, path);
            throw new RazorpayException(method, path, null, "unreachable", e.Message, transient: true, retryAfter: null, e);
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                return JsonSerializer.Deserialize<T>(text, Json)
                    ?? throw new RazorpayException(method, path, response.StatusCode, "empty", "Razorpay answered an empty body.", transient: true, null);
            }

            var (code, raw) = ParseError(text);
            var description = Redaction.Scrub(raw);
            var transient = response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.Conflict || (int)response.StatusCode >= 500;
            logger.LogWarning("Razorpay {Method} {Path} answered {Status} {Code}: {Description}", method, path, (int)response.StatusCode, code, description);
            throw new RazorpayException(method, path, response.StatusCode, code, description, transient, response.Headers.RetryAfter?.Delta);
        }
    }

    private static (string Code, string Description) ParseError(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                var code = error.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "UNKNOWN";
                var description = error.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : "";
                return (code, description);
            }
        }
        catch (JsonException)
        {
        }

        return ("UNKNOWN", text.Length > 200 ? text[..200] : text);
    }
}

/// <summary>Razorpay refused or did not answer. <see cref="Transient"/>: a later retry may succeed.</summary>
public sealed class RazorpayException(
    HttpMethod method, string path, HttpStatusCode? status, string code, string description, bool transient, TimeSpan? retryAfter, Exception? inner = null)
    : Exception($"Razorpay {method} {path} failed ({(status is null ? "no answer" : ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture))} {code}): {description}", inner)
{
    public HttpStatusCode? Status { get; } = status;
    public string Code { get; } = code;
    public bool Transient { get; } = transient;
    public TimeSpan? RetryAfter { get; } = retryAfter;
}
