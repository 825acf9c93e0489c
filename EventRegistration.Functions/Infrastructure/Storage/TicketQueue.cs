using System.Text.Json;
using System.Text.Json.Serialization;
using Azure.Core;
using Azure.Storage.Queues;
using EventRegistration.Functions.Infrastructure.Configuration;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Infrastructure.Storage;

/// <summary>
/// The message on the <c>ticket-deliveries</c> queue: which registration's ticket to deliver, and
/// how. Without a channel it is the WhatsApp delivery; <c>"email"</c> is the e-mail fallback.
/// </summary>
public sealed record TicketDeliveryMessage(Guid RegistrationId, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Channel = null)
{
    public const string EmailChannel = "email";

    public bool IsEmail => Channel == EmailChannel;

    public static TicketDeliveryMessage Email(Guid registrationId) => new(registrationId, EmailChannel);

    public string ToJson() => JsonSerializer.Serialize(this, JsonSerializerOptions.Web);

    public static TicketDeliveryMessage? TryParse(string text)
    {
        try
        {
            var message = JsonSerializer.Deserialize<TicketDeliveryMessage>(text, JsonSerializerOptions.Web);
            return message is { RegistrationId: var id } && id != Guid.Empty && message.Channel is null or EmailChannel ? message : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>
/// Sends to the ticket queue with Base64 encoding, which the Functions queue trigger expects
/// (Azure.Storage.Queues sends plain text unless told otherwise). Few retries and a short
/// network timeout: a caller waiting on a confirmation should not wait on a dead queue; the
/// committed <c>queued</c> delivery stays for the reconciliation instead.
/// </summary>
public sealed class TicketQueue
{
    private readonly QueueClient _queue;
    private readonly QueueClient _poison;
    private int _created;

    public TicketQueue(IOptions<StorageOptions> options, StorageClients storage)
    {
        var clientOptions = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 };
        clientOptions.Retry.MaxRetries = 1;
        clientOptions.Retry.Mode = RetryMode.Fixed;
        clientOptions.Retry.Delay = TimeSpan.FromMilliseconds(200);
        clientOptions.Retry.NetworkTimeout = TimeSpan.FromSeconds(3);

        // One message per confirmation: the SDK's request logging and tracing cost more CPU than
        // the send itself; failures are logged by the callers.
        clientOptions.Diagnostics.IsLoggingEnabled = false;
        clientOptions.Diagnostics.IsDistributedTracingEnabled = false;
        var service = storage.Queues(clientOptions);
        _queue = service.GetQueueClient(options.Value.TicketQueueName);
        _poison = service.GetQueueClient(options.Value.TicketQueueName + "-poison");
    }

    public QueueClient Client => _queue;
    public QueueClient PoisonClient => _poison;

    /// <summary>
    /// Whether a failed queue call means the queue could not be reached or answered with a failure
    /// (try again later, nothing lost), as opposed to a bug. The one place that says so for every caller.
    /// </summary>
    public static bool IsUnavailable(Exception e) =>
        e is Azure.RequestFailedException or HttpRequestException or IOException or System.Net.Sockets.SocketException
            or TimeoutException or TaskCanceledException
        || e is AggregateException aggregate && aggregate.InnerExceptions.All(IsUnavailable);

    public async Task SendAsync(TicketDeliveryMessage message, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken);
        await _queue.SendMessageAsync(message.ToJson(), cancellationToken);
    }

    /// <summary>
    /// A message that stays invisible for <paramref name="delay"/>: a ticket delivery's scheduled
    /// retry (the queue service allows up to 7 days; the retry policy never asks for more than one).
    /// </summary>
    public async Task SendLaterAsync(TicketDeliveryMessage message, TimeSpan delay, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken);
        var visibility = delay < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : delay;
        await _queue.SendMessageAsync(message.ToJson(), visibilityTimeout: visibility, timeToLive: visibility + TimeSpan.FromDays(6), cancellationToken);
    }

    /// <summary>
    /// The queue's approximate message count: visible, received and still invisible (a delayed retry)
    /// alike, as the storage service reports it.
    /// </summary>
    public async Task<int> ApproximateCountAsync(CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken);
        return (await _queue.GetPropertiesAsync(cancellationToken)).Value.ApproximateMessagesCount;
    }

    private async Task EnsureCreatedAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _created) == 0)
        {
            await _queue.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
            Volatile.Write(ref _created, 1);
        }
    }
}
