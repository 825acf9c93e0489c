using System.Text.Json;
using System.Text.Unicode;

namespace EventRegistration.Functions.Infrastructure.Http;

/// <summary>Parses a JSON request body and reads its fields, answering each defect with the problem that names it.</summary>
public sealed class JsonRequest : IDisposable
{
    private static readonly JsonDocumentOptions Options = new()
    {
        MaxDepth = 32,
        AllowDuplicateProperties = false,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
    };

    private readonly JsonDocument _document;

    private JsonRequest(JsonDocument document) => _document = document;

    public JsonElement Root => _document.RootElement;

    /// <summary>
    /// Reads the body once, refusing more than <paramref name="maxBytes"/> (413), and parses it:
    /// the JSON object, or the problem that names what is wrong with it. The caller disposes the JSON.
    /// </summary>
    public static async Task<(JsonRequest? Json, ApiResult? Problem)> ReadAsync(
        Microsoft.AspNetCore.Http.HttpRequest request, int maxBytes, CancellationToken cancellationToken)
    {
        var body = await RequestBody.ReadAsync(request, maxBytes, cancellationToken);
        if (body is null)
        {
            return (null, Problems.BodyTooLarge(maxBytes));
        }

        var json = TryParse(body, out var problem);
        return (json, problem);
    }

    public static JsonRequest? TryParse(byte[] body, out ApiResult? problem)
    {
        problem = null;
        if (body.Length == 0)
        {
            problem = Problems.MalformedJson("The request body is empty; a JSON object is required.");
            return null;
        }

        try
        {
            var document = JsonDocument.Parse(body, Options);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                problem = Problems.MalformedJson("The request body must be a JSON object.");
                return null;
            }

            if (NotUnicodeAt(body) is { } offset)
            {
                document.Dispose();
                problem = Problems.MalformedJson($"The request body holds text that is not valid Unicode (byte {offset + 1}): invalid UTF-8 or a lone surrogate escape.");
                return null;
            }

            return new JsonRequest(document);
        }
        catch (JsonException e)
        {
            problem = Problems.MalformedJson($"The request body is not valid JSON: {Describe(e)}");
            return null;
        }
        catch (ArgumentException)
        {
            problem = Problems.MalformedJson("The request body is not valid UTF-8 JSON.");
            return null;
        }
    }

    /// <summary>A required string property, trimmed of nothing: ids are compared exactly.</summary>
    public string? RequiredString(string name, out ApiResult? problem)
    {
        problem = null;
        if (!Root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            problem = Problems.MissingField(name);
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            problem = Problems.InvalidField(name, $"'{name}' must be a string, not {value.ValueKind.ToString().ToLowerInvariant()}.");
            return null;
        }

        var text = value.GetString()!;
        if (text.Length == 0)
        {
            problem = Problems.InvalidField(name, $"'{name}' must not be empty.");
            return null;
        }

        return text;
    }

    /// <summary>
    /// The parser checks structure, not text: a string holding bytes that are not UTF-8, or an
    /// escaped lone surrogate ("\ud800"), parses, and reading it later throws wherever that
    /// happens to be. Every string and property name is decoded here once, so whatever reads the
    /// document afterwards (fields, entity deserialisation, the stored inbox copy) meets only text.
    /// </summary>
    /// <returns>The byte offset of the first string that is not Unicode, or null.</returns>
    private static long? NotUnicodeAt(byte[] body)
    {
        if (!Utf8.IsValid(body))
        {
            // Outside strings the parser refuses anything but ASCII, so the fault is inside one.
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = Options.MaxDepth });
            while (reader.Read())
            {
                if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && !Utf8.IsValid(reader.ValueSpan))
                {
                    return reader.TokenStartIndex;
                }
            }

            return 0;
        }

        var escaped = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = Options.MaxDepth });
        while (escaped.Read())
        {
            if (escaped.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && escaped.ValueIsEscaped)
            {
                try
                {
                    _ = escaped.GetString();
                }
                catch (InvalidOperationException)
                {
                    return escaped.TokenStartIndex;
                }
            }
        }

        return null;
    }

    private static string Describe(JsonException e) =>
        e.LineNumber is { } line ? $"line {line + 1}, byte {e.BytePositionInLine + 1}." : "unexpected content.";

    public void Dispose() => _document.Dispose();
}
