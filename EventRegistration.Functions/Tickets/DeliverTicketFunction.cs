using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.Storage;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Tickets;

/// <summary>
/// Queue trigger on <c>ticket-deliveries</c> (Base64 JSON <c>{"registrationId":"…"}</c>). Returns
/// when the ticket is sent or can never be; throws to have the runtime retry the message later
/// (host.json <c>extensions.queues</c>) and finally move it to the poison queue.
/// </summary>
public sealed class DeliverTicketFunction(TicketDeliveryHandler handler, ILogger<DeliverTicketFunction> logger)
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

        await handler.DeliverAsync(parsed.RegistrationId, cancellationToken);
    }
}
