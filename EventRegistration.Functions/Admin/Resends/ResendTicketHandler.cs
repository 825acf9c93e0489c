using Dapper;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Tickets;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Admin.Resends;

/// <summary>A resend as the route answers it, the first time and on every repeat of the same request.</summary>
public sealed record TicketResend(
    long ResendId, Guid RegistrationId, string RequestKey, string Reason, string RequestedBy, DateTime RequestedAt,
    string PreviousStatus, string? PreviousWamid, string DeliveryStatus);

/// <summary>What a resend request came to. <see cref="ResendTicketFunction"/> maps each to HTTP, in one switch.</summary>
public abstract record ResendOutcome
{
    private ResendOutcome()
    {
    }

    /// <summary>This request reopened the delivery (202).</summary>
    public sealed record Queued(TicketResend Resend) : ResendOutcome;

    /// <summary>The same request (registration and key) came before: its resend, nothing written, nothing sent (202).</summary>
    public sealed record Repeated(TicketResend Resend) : ResendOutcome;

    /// <summary>The key was used for this registration with another reason: refused (409), nothing written.</summary>
    public sealed record KeyReused(TicketResend Earlier) : ResendOutcome;

    /// <summary>No ticket to send again: not paid, event cancelled, or a delivery already under way (409).</summary>
    public sealed record NotResendable(string Why) : ResendOutcome;

    public sealed record NotFound : ResendOutcome;
}

/// <summary>
/// An operator's explicit new delivery of a <c>sent</c> or <c>failed</c> ticket, through the same
/// queue, blob lease and state machine as the first. Under the delivery's row lock, one transaction
/// records the resend (who, why, the message it replaces) keyed by the client's request key, reopens
/// the delivery (<see cref="TicketDeliveries.ReopenForResendAsync"/>) and audits it; after commit one
/// message goes on the queue. A repeat of the request (same key) finds its resend and changes and
/// sends nothing; another request meanwhile finds the delivery under way and is refused. So a
/// request is one delivery, and the state machine keeps that delivery to one message. If the queue
/// cannot be reached, the delivery stays <c>queued</c> and the reconciliation enqueues it after the
/// same short grace as a confirmation's lost message (Reconciliation__UnsentDeliveryGraceSeconds).
/// </summary>
public sealed class ResendTicketHandler(Database database, TicketQueue queue, TimeProvider clock, ILogger<ResendTicketHandler> logger)
{
    private const string RegistrationExists = "select exists (select 1 from event_registrations where id = @Id)";

    private const string FindByKey = """
        select id as ResendId, registration_id as RegistrationId, request_key as RequestKey, reason, actor as RequestedBy,
               requested_at as RequestedAt, previous_status as PreviousStatus, previous_wamid as PreviousWamid,
               (select status from ticket_deliveries d where d.registration_id = t.registration_id) as DeliveryStatus
          from ticket_resends t where registration_id = @RegistrationId and request_key = @RequestKey
        """;

    private const string Insert = """
        insert into ticket_resends (registration_id, request_key, actor, reason, previous_status, previous_attempts, previous_wamid,
                                    previous_error, requested_at)
        values (@RegistrationId, @RequestKey, @Actor, @Reason, @PreviousStatus, @PreviousAttempts, @PreviousWamid, @PreviousError, @Now)
        returning id
        """;

    public async Task<ResendOutcome> ResendAsync(AdminActor actor, Guid registrationId, string requestKey, string reason, CancellationToken cancellationToken)
    {
        var outcome = await database.InTransactionAsync<ResendOutcome>("admin_resend_ticket", async (connection, transaction) =>
        {
            var now = clock.GetUtcNow();
            // The row lock first: a request at the same moment, with this key or another, waits here and then sees this one.
            var delivery = await TicketDeliveries.LockForResendAsync(connection, transaction, registrationId);
            var key = new { RegistrationId = registrationId, RequestKey = requestKey };
            if (await connection.QuerySingleOrDefaultAsync<TicketResend>(FindByKey, key, transaction) is { } earlier)
            {
                return earlier.Reason == reason ? new ResendOutcome.Repeated(earlier) : new ResendOutcome.KeyReused(earlier);
            }

            if (delivery is null)
            {
                return await connection.ExecuteScalarAsync<bool>(RegistrationExists, new { Id = registrationId }, transaction)
                    ? new ResendOutcome.NotResendable("it has no ticket: it was never paid")
                    : new ResendOutcome.NotFound();
            }

            if (Refusal(delivery) is { } why)
            {
                return new ResendOutcome.NotResendable(why);
            }

            var id = await connection.ExecuteScalarAsync<long>(Insert, new
            {
                RegistrationId = registrationId,
                RequestKey = requestKey,
                Actor = actor.Name,
                Reason = reason,
                PreviousStatus = delivery.Status,
                PreviousAttempts = delivery.Attempts,
                PreviousWamid = delivery.Wamid,
                PreviousError = delivery.LastError is { } error ? TicketDeliveries.Truncate(error) : null,
                Now = now.UtcDateTime,
            }, transaction);
            if (!await TicketDeliveries.ReopenForResendAsync(connection, transaction, registrationId, delivery, now.UtcDateTime))
            {
                throw new InvalidOperationException($"Ticket delivery {registrationId} moved while its row was locked.");
            }

            await AdminAudit.RecordAsync(connection, transaction, actor, "ticket.resend", registrationId.ToString(),
                new { status = delivery.Status, attempts = delivery.Attempts, wamid = delivery.Wamid },
                new { status = "queued", reason, requestKey, resendId = id }, now);
            return new ResendOutcome.Queued(new TicketResend(id, registrationId, requestKey, reason, actor.Name, now.UtcDateTime,
                delivery.Status, delivery.Wamid, "queued"));
        }, cancellationToken);

        if (outcome is ResendOutcome.Queued queued)
        {
            logger.LogWarning("Ticket of {RegistrationId} to be sent again (resend {ResendId}), asked by {Actor}",
                registrationId, queued.Resend.ResendId, actor.Name);
            await EnqueueAsync(registrationId, cancellationToken);
        }

        return outcome;
    }

    /// <summary>Why a delivery may not be sent again, or null when it may.</summary>
    public static string? Refusal(ResendableDelivery delivery) => delivery switch
    {
        { RegistrationStatus: not "paid" } => $"the registration is {delivery.RegistrationStatus}: its ticket no longer admits",
        { EventStatus: "cancelled" } => "the event is cancelled",
        { RefundStatus: var refund } when TicketVerifier.RefundOwed(refund) || refund == "processed" =>
            $"its payment's refund is {refund}: the ticket no longer admits",
        { Status: "withheld" } => "its ticket was withheld: it no longer admits",
        { Status: not ("sent" or "failed") } => $"a delivery is already under way ({delivery.Status}); it sends the ticket",
        _ => null,
    };

    private async Task EnqueueAsync(Guid registrationId, CancellationToken cancellationToken)
    {
        try
        {
            await queue.SendAsync(new TicketDeliveryMessage(registrationId), cancellationToken);
        }
        catch (Exception e) when (TicketQueue.IsUnavailable(e))
        {
            // Committed as queued and just reopened: the reconciliation's deliveries step enqueues it after Reconciliation__UnsentDeliveryGraceSeconds.
            logger.LogWarning(e, "Resend of {RegistrationId} not put on the queue; the reconciliation will", registrationId);
        }
    }
}
