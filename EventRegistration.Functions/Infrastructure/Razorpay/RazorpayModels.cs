using System.Text.Json;
using System.Text.Json.Serialization;

namespace EventRegistration.Functions.Infrastructure.Razorpay;

/// <summary>Razorpay's payment entity: the fields this app reads; unknown fields are ignored.</summary>
public sealed record RazorpayPayment
{
    [JsonPropertyName("id")] public string Id { get; init; } = "";
    [JsonPropertyName("order_id")] public string? OrderId { get; init; }
    [JsonPropertyName("amount")] public long Amount { get; init; }
    [JsonPropertyName("currency")] public string Currency { get; init; } = "";
    /// <summary>authorized | captured | failed | refunded. Trust this, not <c>captured</c>.</summary>
    [JsonPropertyName("status")] public string Status { get; init; } = "";
    [JsonPropertyName("method")] public string? Method { get; init; }
    [JsonPropertyName("error_code")] public string? ErrorCode { get; init; }
    [JsonPropertyName("error_description")] public string? ErrorDescription { get; init; }
    [JsonPropertyName("error_reason")] public string? ErrorReason { get; init; }
    [JsonPropertyName("amount_refunded")] public long AmountRefunded { get; init; }
    [JsonPropertyName("refund_status")] public string? RefundStatus { get; init; }
    [JsonPropertyName("created_at")] public long CreatedAt { get; init; }
    [JsonPropertyName("notes")][JsonConverter(typeof(RazorpayNotesConverter))]
    public IReadOnlyDictionary<string, string> Notes { get; init; } = new Dictionary<string, string>();
}

public sealed record RazorpayRefund
{
    [JsonPropertyName("id")] public string Id { get; init; } = "";
    [JsonPropertyName("payment_id")] public string PaymentId { get; init; } = "";
    [JsonPropertyName("amount")] public long Amount { get; init; }
    [JsonPropertyName("currency")] public string? Currency { get; init; }
    [JsonPropertyName("status")] public string? Status { get; init; }
    [JsonPropertyName("notes")][JsonConverter(typeof(RazorpayNotesConverter))]
    public IReadOnlyDictionary<string, string> Notes { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// The refunded payment as the refund event carried it (cumulative <c>amount_refunded</c>,
    /// <c>refund_status</c> partial/full); null when the refund came from the refunds API.
    /// </summary>
    [JsonIgnore] public RazorpayPayment? Payment { get; init; }
}

public sealed record RazorpayOrder
{
    [JsonPropertyName("id")] public string Id { get; init; } = "";
    [JsonPropertyName("amount")] public long Amount { get; init; }
    [JsonPropertyName("currency")] public string Currency { get; init; } = "";
    [JsonPropertyName("receipt")] public string? Receipt { get; init; }
    [JsonPropertyName("status")] public string? Status { get; init; }
    [JsonPropertyName("notes")][JsonConverter(typeof(RazorpayNotesConverter))]
    public IReadOnlyDictionary<string, string> Notes { get; init; } = new Dictionary<string, string>();
}

public sealed record RazorpayCollection<T>
{
    [JsonPropertyName("count")] public int Count { get; init; }
    [JsonPropertyName("items")] public IReadOnlyList<T> Items { get; init; } = [];
}

/// <summary>Razorpay sends <c>notes</c> as <c>[]</c> when empty and as an object otherwise; both read as a dictionary.</summary>
public sealed class RazorpayNotesConverter : JsonConverter<IReadOnlyDictionary<string, string>>
{
    public override IReadOnlyDictionary<string, string> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var notes = new Dictionary<string, string>(StringComparer.Ordinal);
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return notes;
            case JsonTokenType.StartArray:
                reader.Skip();
                return notes;
            case JsonTokenType.StartObject:
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    var key = reader.GetString()!;
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        notes[key] = reader.GetString()!;
                    }
                    else if (reader.TokenType is JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False)
                    {
                        notes[key] = JsonDocument.ParseValue(ref reader).RootElement.GetRawText();
                    }
                    else
                    {
                        reader.Skip();
                    }
                }

                return notes;
            default:
                throw new JsonException("notes must be an object or an array.");
        }
    }

    public override void Write(Utf8JsonWriter writer, IReadOnlyDictionary<string, string> value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        foreach (var (key, text) in value)
        {
            writer.WriteString(key, text);
        }

        writer.WriteEndObject();
    }
}
