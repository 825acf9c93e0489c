using EventRegistration.Functions.EmailFallback;
using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.Storage;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Tickets;

/// <summary>
/// Queue trigger on <c>ticket-deliveries</c> (Base64 JSON <c>{"registrationId":"…"}</c>, or with <c>"channel":"email"</c> the e-mail fallback). Returns
/// when the ticket is sent, can never be, or its retry is scheduled on the queue (WhatsApp
/// failures never spend the runtime's dequeue count). Throws only when the message is unreadable
/// or the database or queue is unavailable, so the runtime retries it (host.json
/// <c>extensions.queues</c>) and finally moves it to the poison queue.
/// </summary>
public sealed class DeliverTicketFunction(TicketDeliveryHandler handler, TicketEmailHandler emails, ILogger<DeliverTicketFunction> logger)
{
    /// <summary>The queue the trigger binds; Storage:TicketQueueName must name the same one in production.</summary>
    public const string QueueName = "ticket-deliveries";

    [Function(nameof(DeliverTicket))]
    public async Task DeliverTicket(
        [QueueTrigger(QueueName, Connection = StorageOptions.ConnectionSetting)] string message,
        CancellationToken cancellationToken)
    {
        var parsed = TicketDeliveryMessage.TryParse(message);
        if (parsed is null)
        {
            logger.LogError("Ticket queue message of {Length} characters is unreadable; it will end on the poison queue", message.Length);
            throw new UnreadableTicketMessageException();
        }

        if (parsed.IsEmail)
        {
            await emails.SendAsync(parsed.RegistrationId, cancellationToken);
            return;
        }

        await handler.DeliverAsync(parsed.RegistrationId, cancellationToken);
    }
}
