using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using Azure.Storage.Blobs;
using EventRegistration.Functions.Infrastructure.Telemetry;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StbImageSharp;
using ZXing;
using ZXing.Common;
using ZXing.QrCode;

namespace EventRegistration.Tests.Tickets;

/// <summary>A paid registration made through the real order and checkout path, with its real queue message.</summary>
public sealed record PaidTicket(Guid RegistrationId, Guid EventId, string Phone, string Name, string QueueMessage);

public sealed record DeliveryState(string Status, int Attempts, DateTime? LastAttemptAt, DateTime? NextAttemptAt, string? LastError, string? MediaId, string? Wamid, string? TicketBlob, DateTime? SentAt);

public static class TicketScenario
{
    /// <summary>Orders, confirms and takes the ticket message off the class's queue, as the Functions host would.</summary>
    public static async Task<PaidTicket> PaidTicketAsync(this TestApp app, string name = "Asha Menon")
    {
        var phone = "+9198" + RandomNumberGenerator.GetInt32(10_000_000, 99_999_999);
        var eventId = await app.CreateEventAsync();
        var memberId = await app.CreateMemberAsync(phone, name);
        var (registrationId, orderId) = await app.OrderAsync(eventId, memberId);
        var confirmed = await app.ConfirmAsync(orderId, TestApp.NewPaymentId());
        Assert.True(confirmed.Status is 200 or 201, confirmed.ToString());
        return new PaidTicket(registrationId, eventId, phone, name, await app.TakeQueueMessageAsync(registrationId));
    }

    public static async Task<string> TakeQueueMessageAsync(this TestApp app, Guid registrationId)
    {
        var queue = app.TicketQueueClient();
        for (var round = 0; round < 20; round++)
        {
            var messages = (await queue.ReceiveMessagesAsync(32, TimeSpan.FromMinutes(5))).Value;
            foreach (var message in messages)
            {
                if (TestApp.ParseQueueMessage(message.MessageText)?.RegistrationId == registrationId)
                {
                    await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt);
                    return message.MessageText;
                }
            }

            if (messages.Length == 0)
            {
                break;
            }
        }

        throw new Xunit.Sdk.XunitException($"No ticket message for {registrationId} on queue {app.QueueName}.");
    }

    /// <summary>One invocation as the host makes it: the function class from DI, the message text.</summary>
    public static Task DeliverAsync(this TestApp app, string message) =>
        app.Function<DeliverTicketFunction>().DeliverTicket(message, CancellationToken.None);

    public static async Task<DeliveryState> DeliveryAsync(this TestApp app, Guid registrationId) =>
        (await app.QueryAsync<DeliveryState>(
            """
            select status, attempts, last_attempt_at as lastattemptat, next_attempt_at as nextattemptat, last_error as lasterror, media_id as mediaid, wamid,
                   ticket_blob as ticketblob, sent_at as sentat
              from ticket_deliveries where registration_id = @registrationId
            """,
            new { registrationId })).Single();

    /// <summary>Messages on the class's ticket queue, delayed ones included.</summary>
    public static async Task<int> MessagesOnQueueAsync(this TestApp app)
    {
        var queue = app.TicketQueueClient();
        await queue.CreateIfNotExistsAsync();
        return (await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount;
    }

    /// <summary>Moves the app's clock to the delivery's scheduled attempt, as the delayed queue message would arrive.</summary>
    public static async Task AdvanceToNextAttemptAsync(this TestApp app, Guid registrationId, bool emailFallback = false)
    {
        var scheduled = emailFallback
            ? await app.ScalarAsync<DateTime?>("select coalesce(next_attempt_at, 'epoch') from ticket_email_fallbacks where registration_id = @registrationId", new { registrationId })
            : (await app.DeliveryAsync(registrationId)).NextAttemptAt;
        var next = scheduled is { } at && at > DateTime.UnixEpoch ? at : throw new Xunit.Sdk.XunitException("No attempt is scheduled.");
        var wait = DateTime.SpecifyKind(next, DateTimeKind.Utc) - app.Clock.GetUtcNow().UtcDateTime;
        if (wait > TimeSpan.Zero)
        {
            app.Clock.Advance(wait);
        }
    }

    public static Task<List<(string Kind, Guid? RegistrationId, string Detail)>> AnomaliesAsync(this TestApp app, Guid? registrationId) =>
        app.QueryAsync<(string Kind, Guid? RegistrationId, string Detail)>(
            "select kind, registration_id, detail from anomalies where registration_id is not distinct from @registrationId order by id",
            new { registrationId });

    /// <summary>Reads the stored ticket PNG straight from Azurite, not through the app.</summary>
    public static async Task<byte[]> StoredTicketPngAsync(Guid registrationId)
    {
        var blob = new BlobContainerClient(TestApp.AzuriteConnectionString, "tickets").GetBlobClient($"{registrationId}.png");
        return (await blob.DownloadContentAsync()).Value.Content.ToArray();
    }

    /// <summary>Decodes a QR PNG with an independent decoder: StbImageSharp for the pixels, ZXing for the code.</summary>
    public static string DecodeQr(byte[] png)
    {
        var image = ImageResult.FromMemory(png, ColorComponents.RedGreenBlueAlpha);
        var luminance = new RGBLuminanceSource(image.Data, image.Width, image.Height, RGBLuminanceSource.BitmapFormat.RGBA32);
        // PURE_BARCODE: the PNG is a clean digital render. ZXing's general finder-pattern search
        // (TRY_HARDER) missed about 1 in 60 of these perfect images in a 300-token probe; the
        // pure-barcode path decoded all of them.
        var result = new QRCodeReader().decode(new BinaryBitmap(new HybridBinarizer(luminance)),
            new Dictionary<DecodeHintType, object> { [DecodeHintType.PURE_BARCODE] = true });
        Assert.NotNull(result);
        return result.Text;
    }
}

/// <summary>Collects the ticket metrics of one app's meter (other test classes' meters are ignored).</summary>
public sealed class TicketMetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly List<(string Instrument, long Value, Dictionary<string, object?> Tags)> _measurements = [];

    public TicketMetricsRecorder(TestApp app)
    {
        var meter = app.Services.GetRequiredService<RegistrationMetrics>().Meter;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter) && instrument.Name.StartsWith("eventregistration.tickets", StringComparison.Ordinal))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            lock (_measurements)
            {
                _measurements.Add((instrument.Name, value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));
            }
        });
        _listener.Start();
    }

    public long Count(string instrument, string tag, string value)
    {
        lock (_measurements)
        {
            return _measurements.Where(m => m.Instrument == instrument && Equals(m.Tags.GetValueOrDefault(tag), value)).Sum(m => m.Value);
        }
    }

    public void Dispose() => _listener.Dispose();
}

/// <summary>Collects what the app logs (Warning and above, the test host's filter) from the moment it is created.</summary>
public sealed class LogCollector : ILoggerProvider
{
    private readonly ConcurrentQueue<(LogLevel Level, string Category, string Message)> _entries = new();

    public LogCollector(TestApp app) => app.Services.GetRequiredService<ILoggerFactory>().AddProvider(this);

    public IReadOnlyCollection<(LogLevel Level, string Category, string Message)> Entries => _entries;

    public ILogger CreateLogger(string categoryName) => new Collector(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Collector(LogCollector owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._entries.Enqueue((logLevel, category, formatter(state, exception)));
    }
}
