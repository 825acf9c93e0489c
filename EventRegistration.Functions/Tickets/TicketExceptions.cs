namespace EventRegistration.Functions.Tickets;

/// <summary>
/// The delivery cannot go on now and this invocation could not schedule its own retry (the queue
/// refused the delayed message), or the lease was lost mid-way. Out of the queue-triggered
/// function it makes the runtime bring the message back after host.json's visibilityTimeout.
/// </summary>
public class TicketRetryLaterException(string message, TimeSpan? retryAfter = null, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>When the delivery's next attempt was due; the queue's own delay is what applies.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>The queue message is not a ticket message; retrying will not help, the poison function records it.</summary>
public sealed class UnreadableTicketMessageException()
    : Exception("The ticket queue message is not {\"registrationId\":\"<uuid>\"}.");
