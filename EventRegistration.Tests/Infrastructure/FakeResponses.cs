using WireMock.Types;
using WireMock.Util;

namespace EventRegistration.Tests.Infrastructure;

/// <summary>Answers the WireMock fakes build in their callbacks.</summary>
internal static class FakeResponses
{
    public static WireMock.ResponseMessage Json(int status, string body) => new()
    {
        StatusCode = status,
        Headers = new Dictionary<string, WireMockList<string>> { ["Content-Type"] = new("application/json") },
        BodyData = new BodyData { BodyAsString = body, DetectedBodyType = BodyType.String },
    };
}
