using System.Text.Json;
using System.Text.Json.Serialization;
using EventRegistration.Functions.Infrastructure.Http;

namespace EventRegistration.Functions.Checkins;

/// <summary>
/// A check-in answer as text: stored with the scan's nonce and written as stored, so a scanner
/// retrying after a network error gets the first answer again, byte for byte.
/// </summary>
public sealed record CheckinAnswer(int StatusCode, string ContentType, string Body)
{
    public static CheckinAnswer From(ApiResult result) =>
        new(result.StatusCode, result.ContentType, JsonSerializer.Serialize(result.Body, result.Body.GetType(), ApiResult.Json));

    public ApiResult ToResult()
    {
        var result = new ApiResult(StatusCode, new StoredJson(Body), ContentType);
        result.Headers["Cache-Control"] = "no-store";
        return result;
    }
}

/// <summary>JSON text written as it is, without being parsed and written again.</summary>
[JsonConverter(typeof(StoredJsonConverter))]
public sealed record StoredJson(string Json);

public sealed class StoredJsonConverter : JsonConverter<StoredJson>
{
    public override StoredJson Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        throw new NotSupportedException("Stored answers are written, never read back through the serializer.");

    public override void Write(Utf8JsonWriter writer, StoredJson value, JsonSerializerOptions options) =>
        writer.WriteRawValue(value.Json, skipInputValidation: true);
}
