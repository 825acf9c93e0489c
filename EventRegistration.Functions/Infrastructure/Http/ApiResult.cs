using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace EventRegistration.Functions.Infrastructure.Http;

/// <summary>
/// A JSON answer written straight to the response: the body, its content type, its status and
/// headers. It needs no MVC services, so what a test executes is what the host sends.
/// </summary>
public sealed class ApiResult(int statusCode, object body, string contentType = "application/json") : IActionResult
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public int StatusCode { get; } = statusCode;
    public object Body { get; } = body;
    public string ContentType { get; } = contentType;
    public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);

    public static ApiResult Ok(object body) => new(StatusCodes.Status200OK, body);
    public static ApiResult Created(object body) => new(StatusCodes.Status201Created, body);

    public async Task ExecuteResultAsync(ActionContext context)
    {
        var response = context.HttpContext.Response;
        response.StatusCode = StatusCode;
        response.ContentType = ContentType;
        foreach (var (name, value) in Headers)
        {
            response.Headers[name] = value;
        }

        await JsonSerializer.SerializeAsync(response.Body, Body, Body.GetType(), Json, context.HttpContext.RequestAborted);
    }
}
