namespace EventRegistration.Functions.Tickets;

/// <summary>
/// The delivery cannot go on now but may later. Thrown out of the queue-triggered function so
/// that the Functions runtime makes the message visible again after host.json's visibilityTimeout
/// and, after maxDequeueCount tries, moves it to the poison queue.
/// </summary>
public class TicketRetryLaterException(string message, TimeSpan? retryAfter = null, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>What WhatsApp asked for, when it did; the queue's own delay is what applies.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>Another worker holds the ticket's blob lease and the ticket is not sent yet.</summary>
public sealed class TicketLeaseTakenException(Guid registrationId)
    : TicketRetryLaterException($"The ticket lease of {registrationId} is held by another worker; retry later.")
{
    public Guid RegistrationId { get; } = registrationId;
}

/// <summary>The queue message is not a ticket message; retrying will not help, the poison function records it.</summary>
public sealed class UnreadableTicketMessageException()
    : Exception("The ticket queue message is not {\"registrationId\":\"<uuid>\"}.");
