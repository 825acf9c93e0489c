using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Tickets;
using EventRegistration.Functions.WhatsAppWebhooks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// A ticket WhatsApp accepted (<c>sent</c>) with no 'delivered' or 'read' status after
/// <c>WhatsAppWebhook__UndeliveredAfterMinutes</c> is listed for an operator as
/// <c>ticket_not_delivered</c>, once (the row is marked in the same transaction). It is never
/// resent from here: WhatsApp has no idempotency key, and a message merely late would arrive twice.
/// Statuses that arrived before their ticket recorded the wamid are attached first.
/// </summary>
public sealed class UndeliveredTicketsStep(
    Database database,
    TicketDeliveries deliveries,
    DeliveryReceipts receipts,
    IOptions<WhatsAppWebhookOptions> webhook,
    IOptions<ReconciliationOptions> options,
    TimeProvider clock,
    ILogger<UndeliveredTicketsStep> logger) : IReconciliationStep
{
    public string Name => "undelivered_tickets";

    public async Task RunAsync(StepTally tally, CancellationToken cancellationToken)
    {
        // A receipt that overtook its send's answer first, so its ticket is not listed for nothing.
        if (await receipts.AttachEarlyStatusesAsync(options.Value.BatchSize, cancellationToken) is > 0 and var attached)
        {
            tally.Add("receipts_attached", attached);
        }

        var minutes = webhook.Value.UndeliveredAfterMinutes;
        var before = clock.GetUtcNow().UtcDateTime.AddMinutes(-minutes);
        foreach (var ticket in await deliveries.FindUndeliveredAsync(before, options.Value.BatchSize, cancellationToken))
        {
            var reported = await database.InTransactionAsync("reconcile_undelivered_report", async (connection, transaction) =>
            {
                var now = clock.GetUtcNow().UtcDateTime;
                if (!await TicketDeliveries.MarkUndeliveredReportedAsync(connection, transaction, ticket.RegistrationId, now))
                {
                    return false;
                }

                await AnomalyLog.RecordAsync(connection, transaction, new Anomaly(AnomalyKind.TicketNotDelivered,
                    $"WhatsApp accepted the ticket at {ticket.SentAt:O} as {ticket.Wamid}, but no 'delivered' or 'read' status came within {minutes} minutes (last status: {ticket.WhatsAppStatus ?? "none"}). Not resent automatically: a resend can duplicate.",
                    ticket.EventId, ticket.RegistrationId), now);
                return true;
            }, cancellationToken);

            if (reported)
            {
                tally.Add("reported");
                logger.LogWarning("Ticket of {RegistrationId} has no delivery receipt after {Minutes} minutes; listed for an operator",
                    ticket.RegistrationId, minutes);
            }
        }
    }
}
