using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Infrastructure.WhatsApp;

/// <summary>
/// Typed client for the WhatsApp Cloud API: media upload and template send. Both are POSTs and
/// the send has no idempotency key, so the pipeline never retries; the caller records the
/// attempt before the send and decides about retries from the <see cref="WhatsAppException"/>.
/// </summary>
public sealed class WhatsAppClient(HttpClient http, IOptions<WhatsAppOptions> options, ILogger<WhatsAppClient> logger)
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

        using var answer = await PostAsync("media", $"{settings.ApiVersion}/{settings.PhoneNumberId}/media", form, cancellationToken);
        return ReadString(answer, "id") ?? throw Unreadable("media", answer);
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
        using var answer = await PostAsync("messages", $"{settings.ApiVersion}/{settings.PhoneNumberId}/messages", content, cancellationToken);
        var wamid = answer.RootElement.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array
            && messages.GetArrayLength() > 0 && messages[0].TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String
                ? id.GetString()
                : null;
        // An answer without a wamid may still have been sent: the caller treats it as an unknown outcome.
        return string.IsNullOrEmpty(wamid) ? throw Unreadable("messages", answer) : wamid;
    }

    private async Task<JsonDocument> PostAsync(string operation, string path, HttpContent content, CancellationToken cancellationToken)
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
            var reachedServer = !(e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError }
                || e.GetType().Name.Contains("BrokenCircuit", StringComparison.Ordinal));
            logger.LogWarning(e, "WhatsApp {Operation} did not answer", operation);
            throw new WhatsAppException(operation, null, null, WhatsAppFailureKind.Transient,
                $"no answer from WhatsApp ({e.GetType().Name})", retryAfter: null, outcomeKnown: !reachedServer, e);
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
                    throw new WhatsAppException(operation, response.StatusCode, null, WhatsAppFailureKind.Transient,
                        "WhatsApp answered a body that is not JSON", null, outcomeKnown: false, e);
                }
            }

            var (code, message) = ParseError(text);
            var kind = Classify(response.StatusCode, code, out var category);
            var retryAfter = response.Headers.RetryAfter?.Delta
                ?? (response.Headers.RetryAfter?.Date is { } date ? date - DateTimeOffset.UtcNow : null);
            logger.LogWarning("WhatsApp {Operation} answered {Status} code {Code} ({Category}): {Message}",
                operation, (int)response.StatusCode, code, category, message);
            var reason = $"{category}: WhatsApp error {(code?.ToString(CultureInfo.InvariantCulture) ?? "none")} (HTTP {(int)response.StatusCode}) {message}";
            throw new WhatsAppException(operation, response.StatusCode, code, kind, reason, retryAfter, outcomeKnown: true);
        }
    }

    /// <summary>REFERENCE.md's table: rate limits and server trouble are worth a later retry; recipient, template and auth problems are not.</summary>
    public static WhatsAppFailureKind Classify(HttpStatusCode status, int? code, out string category)
    {
        switch (code)
        {
            case 130429 or 131056 or 80007 or 4:
                category = "rate_limited";
                return WhatsAppFailureKind.Transient;
            case 131026 or 100:
                category = "invalid_recipient";
                return WhatsAppFailureKind.Permanent;
            case 132000 or 132001 or 132012:
                category = "template_problem";
                return WhatsAppFailureKind.Permanent;
            case 190:
                category = "access_token_invalid";
                return WhatsAppFailureKind.Permanent;
        }

        if (status == HttpStatusCode.TooManyRequests)
        {
            category = "rate_limited";
            return WhatsAppFailureKind.Transient;
        }

        if ((int)status >= 500 || status == HttpStatusCode.RequestTimeout)
        {
            category = "server_error";
            return WhatsAppFailureKind.Transient;
        }

        // Any other refusal is a request WhatsApp will refuse again: an operator has to look.
        category = status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden ? "access_denied" : "rejected";
        return WhatsAppFailureKind.Permanent;
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

    private static WhatsAppException Unreadable(string operation, JsonDocument answer) =>
        new(operation, HttpStatusCode.OK, null, WhatsAppFailureKind.Transient,
            $"WhatsApp {operation} answered without an id: {Truncate(answer.RootElement.GetRawText())}", null, outcomeKnown: false);

    private static string Truncate(string text) => text.Length > 300 ? text[..300] : text;
}

public enum WhatsAppFailureKind
{
    /// <summary>A later attempt may succeed (rate limit, server error, no answer).</summary>
    Transient,
    /// <summary>The same request will be refused again (recipient, template, credentials).</summary>
    Permanent,
}

/// <summary>
/// WhatsApp refused or did not answer. <see cref="OutcomeKnown"/> is true when WhatsApp certainly
/// did nothing (it answered an error, or the request never left); false when it may have acted
/// although no definite answer came back (timeout, reset, unreadable success): for the send, it
/// is then unknown whether the member got the message.
/// </summary>
public sealed class WhatsAppException(
    string operation, HttpStatusCode? status, int? code, WhatsAppFailureKind kind, string reason, TimeSpan? retryAfter, bool outcomeKnown, Exception? inner = null)
    : Exception($"WhatsApp {operation} failed: {reason}", inner)
{
    public string Operation { get; } = operation;
    public HttpStatusCode? Status { get; } = status;
    public int? Code { get; } = code;
    public WhatsAppFailureKind Kind { get; } = kind;
    public string Reason { get; } = reason;
    public TimeSpan? RetryAfter { get; } = retryAfter;
    public bool OutcomeKnown { get; } = outcomeKnown;
}
