using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using EventRegistration.Functions.Infrastructure.Telemetry;
using EventRegistration.Functions.Tickets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Infrastructure.WhatsApp;

/// <summary>
/// Typed client for the WhatsApp Cloud API: media upload and template send. Both are POSTs and
/// the send has no idempotency key, so the pipeline never retries; the caller records the
/// attempt before the send and decides about retries from the classified <see cref="WhatsAppException"/>.
/// </summary>
public sealed class WhatsAppClient(HttpClient http, IOptions<WhatsAppOptions> options, TimeProvider clock, ILogger<WhatsAppClient> logger)
{
    public const string HttpClientName = "whatsapp";

    /// <summary>Uploads a PNG; WhatsApp keeps it 30 days. Returns the media id.</summary>
    public async Task<string> UploadPngAsync(byte[] png, string fileName, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        using var form = new MultipartFormDataContent();
        form.Add(new StringContent("whatsapp"), "messaging_product");
        var file = new ByteArrayContent(png);
        file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        form.Add(file, "file", fileName);
        form.Add(new StringContent("image/png"), "type");

        using var answer = await PostAsync(WhatsAppCall.Media, $"{settings.ApiVersion}/{settings.PhoneNumberId}/media", form, cancellationToken);
        return ReadString(answer, "id") ?? throw Unreadable(WhatsAppCall.Media, answer);
    }

    /// <summary>Sends the ticket template: header image by media id, body parameters in order. Returns the wamid.</summary>
    public async Task<string> SendTemplateAsync(string toE164, string mediaId, IReadOnlyList<string> bodyParameters, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var body = new JsonObject
        {
            ["messaging_product"] = "whatsapp",
            ["to"] = toE164,
            ["type"] = "template",
            ["template"] = new JsonObject
            {
                ["name"] = settings.TemplateName,
                ["language"] = new JsonObject { ["code"] = settings.TemplateLanguage },
                ["components"] = new JsonArray
                {
                    new JsonObject
                    {
                        ["type"] = "header",
                        ["parameters"] = new JsonArray
                        {
                            new JsonObject { ["type"] = "image", ["image"] = new JsonObject { ["id"] = mediaId } },
                        },
                    },
                    new JsonObject
                    {
                        ["type"] = "body",
                        ["parameters"] = new JsonArray(bodyParameters
                            .Select(text => (JsonNode)new JsonObject { ["type"] = "text", ["text"] = text }).ToArray()),
                    },
                },
            },
        };

        using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var answer = await PostAsync(WhatsAppCall.Messages, $"{settings.ApiVersion}/{settings.PhoneNumberId}/messages", content, cancellationToken);
        var wamid = answer.RootElement.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array
            && messages.GetArrayLength() > 0 && messages[0].TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String
                ? id.GetString()
                : null;
        return string.IsNullOrEmpty(wamid) ? throw Unreadable(WhatsAppCall.Messages, answer) : wamid;
    }

    private async Task<JsonDocument> PostAsync(WhatsAppCall call, string path, HttpContent content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Value.AccessToken);

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && (e is HttpRequestException or TaskCanceledException or TimeoutException
            || e.GetType().Name.Contains("Timeout", StringComparison.Ordinal) || e.GetType().Name.Contains("BrokenCircuit", StringComparison.Ordinal)))
        {
            // A refused connection or an open circuit never reached WhatsApp; anything else may have.
            var requestLeft = !(e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError }
                || e.GetType().Name.Contains("BrokenCircuit", StringComparison.Ordinal));
            logger.LogWarning(e, "WhatsApp {Operation} did not answer", call);
            throw Failure(call, null, null, $"no answer from WhatsApp ({e.GetType().Name})", retryAfter: null, requestLeft, e);
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                try
                {
                    return JsonDocument.Parse(text);
                }
                catch (JsonException e)
                {
                    throw Failure(call, response.StatusCode, null, "WhatsApp answered a body that is not JSON", null, requestLeft: true, e);
                }
            }

            var (code, raw) = ParseError(text);
            var message = Redaction.Scrub(raw);
            var retryAfter = response.Headers.RetryAfter?.Delta
                ?? (response.Headers.RetryAfter?.Date is { } date ? date - clock.GetUtcNow() : null);
            var failure = Failure(call, response.StatusCode, code,
                $"WhatsApp error {(code?.ToString(CultureInfo.InvariantCulture) ?? "none")} (HTTP {(int)response.StatusCode}) {message}", retryAfter, requestLeft: true);
            logger.LogWarning("WhatsApp {Operation} answered {Status} code {Code} ({Category}): {Message}",
                call, (int)response.StatusCode, code, failure.Failure.Category, message);
            throw failure;
        }
    }

    /// <summary>The one place a WhatsApp failure is classified, with everything known about it (DeliveryRetryPolicy's table).</summary>
    private static WhatsAppException Failure(WhatsAppCall call, HttpStatusCode? status, int? code, string reason, TimeSpan? retryAfter, bool requestLeft, Exception? inner = null)
    {
        var (kind, category) = DeliveryRetryPolicy.Classify(call, (int?)status, code, requestLeft);
        return new WhatsAppException(call, status, new DeliveryFailure(kind, category, reason, code, retryAfter > TimeSpan.Zero ? retryAfter : null), inner);
    }

    private static (int? Code, string Message) ParseError(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                int? code = error.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.Number && c.TryGetInt32(out var n) ? n : null;
                var message = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "";
                return (code, Truncate(message));
            }
        }
        catch (JsonException)
        {
        }

        return (null, Truncate(text));
    }

    private static string? ReadString(JsonDocument document, string property) =>
        document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty(property, out var value)
            && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static WhatsAppException Unreadable(WhatsAppCall call, JsonDocument answer) =>
        Failure(call, HttpStatusCode.OK, null, $"WhatsApp {call} answered without an id: {Truncate(answer.RootElement.GetRawText())}", null, requestLeft: true);

    private static string Truncate(string text) => text.Length > 300 ? text[..300] : text;
}

/// <summary>
/// WhatsApp refused or did not answer; <see cref="Failure"/> says what that means for the ticket,
/// classified once, here where it happened (nothing sent, rate limited, outcome unknown, permanent).
/// </summary>
public sealed class WhatsAppException(WhatsAppCall call, HttpStatusCode? status, DeliveryFailure failure, Exception? inner = null)
    : Exception($"WhatsApp {call} failed: {failure.Category}: {failure.Reason}", inner)
{
    public WhatsAppCall Call { get; } = call;
    public HttpStatusCode? Status { get; } = status;
    public DeliveryFailure Failure { get; } = failure;
}
