using EventRegistration.Functions.Infrastructure.Configuration;
using Microsoft.Azure.Functions.Worker;

namespace EventRegistration.Functions.Tickets;

/// <summary>Queue trigger on <c>ticket-deliveries-poison</c>: every poisoned ticket message ends as a recorded failure.</summary>
public sealed class RecordPoisonedTicketFunction(PoisonedTicketHandler handler)
{
    public const string QueueName = DeliverTicketFunction.QueueName + "-poison";

    [Function(nameof(RecordPoisonedTicket))]
    public Task RecordPoisonedTicket(
        [QueueTrigger(QueueName, Connection = StorageOptions.ConnectionSetting)] string message,
        CancellationToken cancellationToken) =>
        handler.RecordAsync(message, cancellationToken);
}
