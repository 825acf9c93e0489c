using WireMock.Server;
using WireMock.Settings;
using WireMock.Types;
using WireMock.Util;

namespace EventRegistration.Tests.Infrastructure;

/// <summary>What the WireMock fakes share: their server, and the answers they build in their callbacks.</summary>
internal static class FakeResponses
{
    /// <summary>
    /// A server on a free port of 127.0.0.1. WireMock keeps every request it served, bodies parsed,
    /// unless capped; nothing here reads that log, and the benchmark's 10,000-ticket row left 250 MB
    /// of it behind (2026-11-26).
    /// </summary>
    public static WireMockServer StartServer() =>
        WireMockServer.Start(new WireMockServerSettings { Urls = ["http://127.0.0.1:0"], MaxRequestLogCount = 100 });

    public static WireMock.ResponseMessage Json(int status, string body) => new()
    {
        StatusCode = status,
        Headers = new Dictionary<string, WireMockList<string>> { ["Content-Type"] = new("application/json") },
        BodyData = new BodyData { BodyAsString = body, DetectedBodyType = BodyType.String },
    };
}
