using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using WireMock.Types;
using WireMock.Util;

namespace EventRegistration.Tests.Infrastructure;

/// <summary>
/// The WhatsApp Cloud API (media upload and message send) as a real HTTP server on 127.0.0.1
/// (WireMock.Net). Every request is recorded; the next sends or uploads can be scripted to fail
/// with a Graph error code, and sends can be slowed down.
/// </summary>
public sealed class FakeWhatsApp : IDisposable
{
    public const string PhoneNumberId = "109876543210987";
    public const string AccessToken = "test-whatsapp-token";
    public const string ApiVersion = "v21.0";
    public const string TemplateName = "event_ticket";
    public const string TemplateLanguage = "en";
    /// <summary>The Meta app's webhook credentials as the tests configure them.</summary>
    public const string VerifyToken = "test-verify-token-0123456789";
    public const string AppSecret = "test-meta-app-secret";

    private readonly ConcurrentQueue<Failure> _sendFailures = new();
    private readonly ConcurrentQueue<Failure> _uploadFailures = new();
    private int _sequence;
    private volatile Failure? _sendOutage;
    private volatile Failure? _uploadOutage;

    public FakeWhatsApp()
    {
        Server = FakeResponses.StartServer();
        Server.Given(Request.Create().WithPath($"/{ApiVersion}/{PhoneNumberId}/media").UsingPost())
            .RespondWith(Response.Create().WithCallback(request =>
            {
                var recorded = Record(request);
                Uploads.Enqueue(recorded);
                if (NextFailure(_uploadFailures, _uploadOutage) is { } failure)
                {
                    return Error(failure);
                }

                var id = $"media-{Interlocked.Increment(ref _sequence)}";
                AcceptedUploads.Enqueue((recorded, id));
                return FakeResponses.Json(200, new JsonObject { ["id"] = id }.ToJsonString());
            }));
        Server.Given(Request.Create().WithPath($"/{ApiVersion}/{PhoneNumberId}/messages").UsingPost())
            .RespondWith(Response.Create().WithCallback(request =>
            {
                var recorded = Record(request);
                SendAttempts.Enqueue(recorded);
                if (SendDelay > TimeSpan.Zero)
                {
                    Thread.Sleep(SendDelay);
                }

                if (NextFailure(_sendFailures, _sendOutage) is { } failure)
                {
                    return Error(failure, EchoRecipientInErrors ? JsonNode.Parse(recorded.Text)?["to"]?.GetValue<string>() : null);
                }

                var body = JsonNode.Parse(recorded.Text)!.AsObject();
                if (OverLimit(body["to"]!.GetValue<string>()) is { } limited)
                {
                    return Error(limited);
                }

                var wamid = "wamid.T" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12));
                Sent.Enqueue((body, wamid));
                OnSendAccepted?.Invoke();
                var to = body["to"]!.GetValue<string>();
                return FakeResponses.Json(200, new JsonObject
                {
                    ["messaging_product"] = "whatsapp",
                    ["contacts"] = new JsonArray(new JsonObject { ["input"] = to, ["wa_id"] = to.TrimStart('+') }),
                    ["messages"] = new JsonArray(new JsonObject { ["id"] = wamid, ["message_status"] = "accepted" }),
                }.ToJsonString());
            }));
    }

    public WireMockServer Server { get; }
    public string BaseUrl => Server.Urls[0] + "/";

    public ConcurrentQueue<RecordedRequest> Uploads { get; } = new();
    public ConcurrentQueue<(RecordedRequest Request, string MediaId)> AcceptedUploads { get; } = new();
    public ConcurrentQueue<RecordedRequest> SendAttempts { get; } = new();
    public ConcurrentQueue<(JsonObject Body, string Wamid)> Sent { get; } = new();

    /// <summary>How long each send takes to answer (widens race windows; never asserted on).</summary>
    public TimeSpan SendDelay { get; set; }

    /// <summary>Send errors name the recipient in their message, as some Graph errors do ("… to: +91…").</summary>
    public bool EchoRecipientInErrors { get; set; }

    /// <summary>Runs when a send is accepted, just before the answer leaves: a test's hook to fail what comes next.</summary>
    public Action? OnSendAccepted { get; set; }

    /// <summary>
    /// When set, the fake enforces WhatsApp's limits as Meta does: more than this many accepted
    /// messages within any one second answers 130429, a second message to one recipient within
    /// 6 s answers 131056. Refused sends are counted, not accepted.
    /// </summary>
    public int? MessagesPerSecondLimit { get; set; }

    public int ThroughputRefusals => Volatile.Read(ref _throughputRefusals);
    public int PairRateRefusals => Volatile.Read(ref _pairRefusals);

    /// <summary>The most messages accepted within any one second so far (with <see cref="MessagesPerSecondLimit"/> set): how close the senders came to the limit.</summary>
    public int PeakAcceptedPerSecond => Volatile.Read(ref _peakAcceptedPerSecond);

    private readonly Queue<long> _acceptedTimes = new();
    private readonly Dictionary<string, long> _lastAcceptedTo = new();
    private int _throughputRefusals;
    private int _pairRefusals;
    private int _peakAcceptedPerSecond;

    private Failure? OverLimit(string to)
    {
        if (MessagesPerSecondLimit is not { } limit)
        {
            return null;
        }

        lock (_acceptedTimes)
        {
            var now = System.Diagnostics.Stopwatch.GetTimestamp();
            while (_acceptedTimes.Count > 0 && System.Diagnostics.Stopwatch.GetElapsedTime(_acceptedTimes.Peek(), now) >= TimeSpan.FromSeconds(1))
            {
                _acceptedTimes.Dequeue();
            }

            if (_acceptedTimes.Count >= limit)
            {
                _throughputRefusals++;
                return new Failure(429, 130429, null);
            }

            if (_lastAcceptedTo.TryGetValue(to, out var last) && System.Diagnostics.Stopwatch.GetElapsedTime(last, now) < TimeSpan.FromSeconds(6))
            {
                _pairRefusals++;
                return new Failure(400, 131056, null);
            }

            _acceptedTimes.Enqueue(now);
            _lastAcceptedTo[to] = now;
            _peakAcceptedPerSecond = Math.Max(_peakAcceptedPerSecond, _acceptedTimes.Count);
            return null;
        }
    }

    /// <summary>The next <paramref name="times"/> sends answer this Graph error.</summary>
    public void FailNextSends(int status, int code, int times = 1, string? retryAfter = null)
    {
        for (var i = 0; i < times; i++)
        {
            _sendFailures.Enqueue(new Failure(status, code, retryAfter));
        }
    }

    public void FailNextUploads(int status, int code, int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            _uploadFailures.Enqueue(new Failure(status, code, null));
        }
    }

    /// <summary>Every send answers this Graph error until <see cref="ClearFailures"/> or a new outage (an outage of WhatsApp, or a long rate limit).</summary>
    public void FailAllSends(int status, int code, string? retryAfter = null) => _sendOutage = new Failure(status, code, retryAfter);

    /// <summary>Every media upload answers this Graph error until <see cref="ClearFailures"/>.</summary>
    public void FailAllUploads(int status, int code) => _uploadOutage = new Failure(status, code, null);

    private static Failure? NextFailure(ConcurrentQueue<Failure> scripted, Failure? outage) =>
        scripted.TryDequeue(out var failure) ? failure : outage;

    public void ClearFailures()
    {
        _sendFailures.Clear();
        _uploadFailures.Clear();
        _sendOutage = null;
        _uploadOutage = null;
        SendDelay = TimeSpan.Zero;
    }

    /// <summary>Send attempts and accepted sends addressed to one recipient.</summary>
    public List<RecordedRequest> SendAttemptsTo(string phone) =>
        SendAttempts.Where(r => JsonNode.Parse(r.Text)!["to"]!.GetValue<string>() == phone).ToList();

    public List<(JsonObject Body, string Wamid)> SentTo(string phone) =>
        Sent.Where(s => s.Body["to"]!.GetValue<string>() == phone).ToList();

    /// <summary>Uploads of one registration's ticket (the file name carries the registration id).</summary>
    public List<RecordedRequest> UploadsFor(Guid registrationId) =>
        Uploads.Where(u => u.Text.Contains($"ticket-{registrationId:N}.png", StringComparison.Ordinal)).ToList();

    private static RecordedRequest Record(WireMock.IRequestMessage request)
    {
        var bytes = request.BodyAsBytes ?? Encoding.UTF8.GetBytes(request.Body ?? "");
        string Header(string name) => request.Headers is { } headers && headers.TryGetValue(name, out var values) ? values.ToString() ?? "" : "";
        return new RecordedRequest(Header("Authorization"), Header("Content-Type"), bytes, Encoding.Latin1.GetString(bytes));
    }

    private static WireMock.ResponseMessage Error(Failure failure, string? recipient = null)
    {
        var message = FakeResponses.Json(failure.Status, new JsonObject
        {
            ["error"] = new JsonObject
            {
                ["message"] = $"(#{failure.Code}) The fake is failing on purpose" + (recipient is null ? "" : $" for recipient {recipient}"),
                ["type"] = "OAuthException",
                ["code"] = failure.Code,
                ["fbtrace_id"] = "AbCdEfGhIjK",
            },
        }.ToJsonString());
        if (failure.RetryAfter is not null)
        {
            message.Headers!["Retry-After"] = new WireMockList<string>(failure.RetryAfter);
        }

        return message;
    }

    public void Dispose() => Server.Stop();

    private sealed record Failure(int Status, int Code, string? RetryAfter);
}

/// <summary>A request as the fake received it; <see cref="Text"/> is the body read byte for byte (Latin-1), for searching.</summary>
public sealed record RecordedRequest(string Authorization, string ContentType, byte[] Body, string Text);

/// <summary>The ticket signing key the tests configure, made fresh for each test run (never a real key).</summary>
public static class TestTicketKey
{
    private static readonly ECDsa Key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public static string PrivateKeyPem { get; } = Key.ExportPkcs8PrivateKeyPem();
    public static string PublicKeyPem { get; } = Key.ExportSubjectPublicKeyInfoPem();
}
