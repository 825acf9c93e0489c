using Dapper;
using EventRegistration.Functions.Infrastructure.Database;

namespace EventRegistration.Functions.Admin.Lookup;

/// <summary>How a registration is looked up: exactly one of these.</summary>
public enum LookupKey
{
    RegistrationId,
    OrderId,
    PaymentId,
}

/// <summary>One thing that happened to a registration, with when.</summary>
public sealed record HistoryEntry(DateTime At, string What, object Detail);

public sealed record RegistrationHistory(
    Guid RegistrationId, Guid EventId, Guid MemberId, string Status, string? OrderId, string? PaymentId, long AmountPaise, string Currency,
    IReadOnlyList<HistoryEntry> History);

/// <summary>
/// Read-only: a registration and everything recorded about it (order, each payment with its disposition,
/// each refund from the refund ledger, ticket delivery, its e-mail fallback, anomalies) in time order.
/// </summary>
public sealed class RegistrationLookupHandler(Database database)
{
    private const string FindBy = """
        select r.id from event_registrations r
         where (@Key = 'RegistrationId' and r.id = @Id)
            or (@Key = 'OrderId' and r.order_id = @Text)
            or (@Key = 'PaymentId' and (r.payment_id = @Text
                or r.id = (select p.registration_id from payments p where p.payment_id = @Text)))
         limit 1
        """;

    private const string Registration = """
        select id, event_id, member_id, status, order_id, payment_id, amount_paise, currency, created_at, paid_at, confirmed_by,
               refunded_at, refund_reason, failed_attempts, last_payment_error
          from event_registrations where id = @Id
        """;

    private const string Payments = """
        select payment_id, status, disposition, source, amount_paise, currency, refund_status, amount_refunded_paise,
               error_code, error_description, first_seen_at
          from payments
         where registration_id = @Id or payment_id = @PaymentId or (order_id is not null and order_id = @OrderId)
        """;

    private const string Refunds = """
        select refund_id, payment_id, amount_paise, status, source, last_error, first_seen_at, updated_at
          from refunds where payment_id = any(@PaymentIds)
        """;

    private const string Delivery = """
        select status, attempts, last_attempt_at, last_error, wamid, sent_at, created_at, updated_at
          from ticket_deliveries where registration_id = @Id
        """;

    private const string EmailFallback = """
        select status, reason, attempts, last_attempt_at, last_error, sent_at, created_at, updated_at
          from ticket_email_fallbacks where registration_id = @Id
        """;

    private const string Anomalies = """
        select id, kind, detail, created_at, resolved_at, resolved_by, resolution_note
          from anomalies where registration_id = @Id or payment_id = any(@PaymentIds)
        """;

    /// <summary>What operators did to this registration (a refund asked for, a ticket resent), from the audit: who, why, what it changed.</summary>
    private const string AdminActions = """
        select action, actor, after::text as after, at from admin_audit where entity_id = @IdText order by id
        """;

    public async Task<RegistrationHistory?> FindAsync(LookupKey key, string value, CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        // One snapshot: every part of the history is read as of the same moment.
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        Guid.TryParse(value, out var guid);
        var id = await connection.ExecuteScalarAsync<Guid?>(FindBy, new { Key = key.ToString(), Id = guid, Text = value }, transaction);
        if (id is null)
        {
            return null;
        }

        var r = await connection.QuerySingleAsync(Registration, new { Id = id }, transaction);
        var history = new List<HistoryEntry>
        {
            new((DateTime)r.created_at, "order_created", new { orderId = (string?)r.order_id, amountPaise = (long)r.amount_paise, currency = (string)r.currency }),
        };
        if (r.paid_at is DateTime paidAt)
        {
            history.Add(new(paidAt, "paid", new { paymentId = (string?)r.payment_id, confirmedBy = (string?)r.confirmed_by }));
        }

        if (r.refunded_at is DateTime refundedAt)
        {
            history.Add(new(refundedAt, "refunded", new { reason = (string?)r.refund_reason }));
        }

        var payments = (await connection.QueryAsync(Payments, new { Id = id, PaymentId = (string?)r.payment_id, OrderId = (string?)r.order_id }, transaction)).ToList();
        foreach (var p in payments)
        {
            history.Add(new((DateTime)p.first_seen_at, "payment", new
            {
                paymentId = (string)p.payment_id, status = (string)p.status, disposition = (string)p.disposition, source = (string)p.source,
                amountPaise = (long?)p.amount_paise, currency = (string?)p.currency, refundStatus = (string?)p.refund_status,
                amountRefundedPaise = (long)p.amount_refunded_paise, errorCode = (string?)p.error_code, errorDescription = (string?)p.error_description,
            }));
        }

        var paymentIds = payments.Select(p => (string)p.payment_id).ToArray();
        foreach (var f in await connection.QueryAsync(Refunds, new { PaymentIds = paymentIds }, transaction))
        {
            history.Add(new((DateTime)f.first_seen_at, "refund", new
            {
                refundId = (string)f.refund_id, paymentId = (string)f.payment_id, amountPaise = (long)f.amount_paise, status = (string)f.status,
                source = (string)f.source, lastError = (string?)f.last_error, updatedAt = (DateTime)f.updated_at,
            }));
        }

        if (await connection.QuerySingleOrDefaultAsync(Delivery, new { Id = id }, transaction) is { } d)
        {
            history.Add(new((DateTime)d.created_at, "ticket_queued", new { status = (string)d.status, attempts = (int)d.attempts }));
            if (d.last_attempt_at is DateTime lastAttempt)
            {
                history.Add(new(lastAttempt, "ticket_last_attempt", new { status = (string)d.status, attempts = (int)d.attempts, lastError = (string?)d.last_error }));
            }

            if (d.sent_at is DateTime sentAt)
            {
                history.Add(new(sentAt, "ticket_sent", new { wamid = (string?)d.wamid }));
            }

            if ((string)d.status == "withheld")
            {
                // Not sent because the door would refuse it; last_error says why.
                history.Add(new((DateTime)d.updated_at, "ticket_withheld", new { reason = (string?)d.last_error }));
            }
        }

        // The e-mail fallback of an undeliverable ticket; the member's address is not shown here.
        if (await connection.QuerySingleOrDefaultAsync(EmailFallback, new { Id = id }, transaction) is { } e)
        {
            history.Add(new((DateTime)e.created_at, "ticket_email_claimed", new { reason = (string)e.reason }));
            if (e.last_attempt_at is DateTime emailAttempt)
            {
                history.Add(new(emailAttempt, "ticket_email_last_attempt", new { status = (string)e.status, attempts = (int)e.attempts, lastError = (string?)e.last_error }));
            }

            if (e.sent_at is DateTime emailSent)
            {
                history.Add(new(emailSent, "ticket_email_sent", new { attempts = (int)e.attempts }));
            }

            if ((string)e.status == "withheld")
            {
                history.Add(new((DateTime)e.updated_at, "ticket_email_withheld", new { reason = (string?)e.last_error }));
            }
        }

        foreach (var a in await connection.QueryAsync(Anomalies, new { Id = id, PaymentIds = paymentIds }, transaction))
        {
            history.Add(new((DateTime)a.created_at, "anomaly", new
            {
                id = (long)a.id, kind = (string)a.kind, detail = (string)a.detail, resolvedAt = (DateTime?)a.resolved_at,
                resolvedBy = (string?)a.resolved_by, resolutionNote = (string?)a.resolution_note,
            }));
        }

        foreach (var a in await connection.QueryAsync(AdminActions, new { IdText = id.Value.ToString() }, transaction))
        {
            history.Add(new((DateTime)a.at, AdminActionName((string)a.action), new
            {
                actor = (string)a.actor,
                change = a.after is string after ? System.Text.Json.JsonDocument.Parse(after).RootElement.Clone() : (object?)null,
            }));
        }

        await transaction.CommitAsync(cancellationToken);
        // A stable order for equal times: the order in which the entries were gathered (order, payment, refund, ticket, anomaly, admin action).
        return new RegistrationHistory((Guid)r.id, (Guid)r.event_id, (Guid)r.member_id, (string)r.status, (string?)r.order_id,
            (string?)r.payment_id, (long)r.amount_paise, (string)r.currency, history.OrderBy(h => h.At).ToList());
    }

    /// <summary>The history's name for an admin action on a registration.</summary>
    private static string AdminActionName(string action) => action switch
    {
        "registration.refund" => "refund_asked_by_operator",
        "ticket.resend" => "ticket_resend",
        _ => action.Replace('.', '_'),
    };
}
