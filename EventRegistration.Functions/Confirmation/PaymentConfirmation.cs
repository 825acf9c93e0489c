using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Infrastructure.Telemetry;
using EventRegistration.Functions.Orders;
using EventRegistration.Functions.Outbox;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace EventRegistration.Functions.Confirmation;

/// <summary>
/// The one confirmation code path, shared by the checkout callback, the webhook and the
/// reconciliation. One transaction takes, in this order, the payment's advisory lock, the
/// event row and the registration row; it decides, writes the registration, the seat count,
/// the payment record and the ticket outbox row, and commits. The outbox row goes to the queue
/// after commit.
/// </summary>
public sealed class PaymentConfirmation(
    Database database,
    OutboxDispatcher outbox,
    RegistrationMetrics metrics,
    TimeProvider clock,
    ILogger<PaymentConfirmation> logger)
{
    internal const string ReadForDecision = $"""
        select pg_advisory_xact_lock(hashtextextended(@PaymentId, 0));
        select e.id, e.capacity, e.attendee_count
          from events e
         where e.id = (select r.event_id from event_registrations r where r.order_id = @OrderId)
           for update of e;
        select {RegistrationRow.Columns} from event_registrations where order_id = @OrderId for update;
        select id from event_registrations where payment_id = @PaymentId;
        """;

    /// <summary>One round trip while the event row is locked: the registration, the seat, the ticket's outbox row.</summary>
    private const string MarkPaid = $"""
        update event_registrations
           set status = 'paid', payment_id = @PaymentId, paid_at = @Now, confirmed_by = @Source,
               hold_expires_at = null, updated_at = @Now
         where id = @RegistrationId
        returning {RegistrationRow.Columns};
        update events set attendee_count = attendee_count + 1 where id = @EventId;
        insert into ticket_deliveries (registration_id, status, created_at, updated_at)
        values (@RegistrationId, 'queued', @Now, @Now)
        on conflict (registration_id) do nothing;
        insert into outbox (kind, registration_id, message, created_at)
        values ('ticket_delivery', @RegistrationId, @Message, @Now)
        returning id
        """;

    private const string MarkRefundDue = $"""
        update event_registrations
           set status = 'refund_due', payment_id = @PaymentId, paid_at = @Now, confirmed_by = @Source,
               refund_reason = 'event_full', hold_expires_at = null, updated_at = @Now
         where id = @RegistrationId
        returning {RegistrationRow.Columns}
        """;

    /// <summary>Records the payment; a later, more definite report (captured after failed) replaces an earlier one.</summary>
    private const string UpsertPayment = """
        insert into payments (payment_id, order_id, registration_id, amount_paise, currency, status, disposition, source,
                              refund_status, first_seen_at, updated_at)
        values (@PaymentId, nullif(@OrderId, ''), @RegistrationId, @AmountPaise, @Currency, 'captured', @Disposition, @Source,
                @RefundStatus, @Now, @Now)
        on conflict (payment_id) do update
           set status = 'captured', disposition = excluded.disposition, registration_id = excluded.registration_id,
               order_id = excluded.order_id, amount_paise = excluded.amount_paise, currency = excluded.currency,
               refund_status = coalesce(payments.refund_status, excluded.refund_status), updated_at = excluded.updated_at
         where payments.disposition in ('failed_attempt', 'observed')
        returning (xmax = 0) as inserted
        """;

    /// <summary>
    /// The writes of a confirmed payment in one round trip. Read every result set it returns
    /// (registration, outbox id, payment row): Dapper cancels a command whose results are left
    /// unread, which costs a second connection to the server and can abort the next statement.
    /// </summary>
    internal const string MarkPaidAndRecordPayment = MarkPaid + ";\n" + UpsertPayment;

    public async Task<ConfirmationResult> ConfirmAsync(PaymentReport report, CancellationToken cancellationToken)
    {
        var source = SourceName(report.Source);
        var result = await database.InTransactionAsync("confirm_payment",
            (connection, transaction) => DecideAndWriteAsync(connection, transaction, report, source), cancellationToken);

        metrics.Confirmation(source, result.Outcome.ToString());
        switch (result.Outcome)
        {
            case ConfirmationOutcome.Paid:
                logger.LogInformation("Confirmed {RegistrationId} with {PaymentId} from {Source}", result.Registration!.Id, report.PaymentId, source);
                break;
            case ConfirmationOutcome.RefundDue:
                logger.LogWarning("Payment {PaymentId} for {RegistrationId} arrived for a full event; refund due", report.PaymentId, result.Registration!.Id);
                break;
            case ConfirmationOutcome.PaymentUsedElsewhere or ConfirmationOutcome.MemberAlreadyPaid or ConfirmationOutcome.AmountMismatch or ConfirmationOutcome.UnknownOrder:
                metrics.PaymentConflict(result.Outcome.ToString());
                logger.LogWarning("Payment {PaymentId} for order {OrderId} from {Source} not applied: {Outcome}", report.PaymentId, report.OrderId, source, result.Outcome);
                break;
        }

        if (result.OutboxId is { } outboxId)
        {
            await outbox.DispatchAsync(outboxId, new TicketDeliveryMessage(result.Registration!.Id), cancellationToken);
        }

        return result;
    }

    private async Task<ConfirmationResult> DecideAndWriteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, PaymentReport report, string source)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        EventSeats? seats;
        RegistrationRow? registration;
        Guid? owner;
        await using (var read = await connection.QueryMultipleAsync(ReadForDecision, new { report.PaymentId, report.OrderId }, transaction))
        {
            await read.ReadAsync();
            seats = await read.ReadSingleOrDefaultAsync<EventSeats>();
            registration = await read.ReadSingleOrDefaultAsync<RegistrationRow>();
            owner = await read.ReadSingleOrDefaultAsync<Guid?>();
        }

        if (registration is null || seats is null)
        {
            if (report.Source == ConfirmationSource.Checkout)
            {
                // A browser's claim about an order we never made: answered 404, nothing to record;
                // Razorpay's own report of the payment (webhook) is recorded when it comes.
                return new ConfirmationResult(ConfirmationOutcome.UnknownOrder, null);
            }

            await RecordPaymentAsync(connection, transaction, report, source, null, "unknown_order", null, now,
                $"Payment {report.PaymentId} names order {report.OrderId}, which no registration has.");
            return new ConfirmationResult(ConfirmationOutcome.UnknownOrder, null);
        }

        if (registration.PaymentId == report.PaymentId)
        {
            return new ConfirmationResult(
                registration.Status == "paid" ? ConfirmationOutcome.AlreadyPaid : ConfirmationOutcome.RefundDue, registration);
        }

        if (owner is not null)
        {
            return new ConfirmationResult(ConfirmationOutcome.PaymentUsedElsewhere, registration);
        }

        if (report.AmountPaise is not null
            && (report.AmountPaise != registration.AmountPaise || !string.Equals(report.Currency, registration.Currency, StringComparison.Ordinal)))
        {
            await RecordPaymentAsync(connection, transaction, report, source, registration, "amount_mismatch", null, now,
                $"Payment {report.PaymentId} is {report.AmountPaise} {report.Currency}; the order is {registration.AmountPaise} {registration.Currency}.");
            return new ConfirmationResult(ConfirmationOutcome.AmountMismatch, registration);
        }

        if (registration.Status is "paid" or "refund_due" or "refunded")
        {
            await RecordPaymentAsync(connection, transaction, report, source, registration, "duplicate", "due", now, null);
            return new ConfirmationResult(ConfirmationOutcome.MemberAlreadyPaid, registration);
        }

        if (!await HasSeatAsync(connection, transaction, seats, registration, now))
        {
            var refundDue = await connection.QuerySingleAsync<RegistrationRow>(MarkRefundDue,
                new { report.PaymentId, RegistrationId = registration.Id, Source = source, Now = now }, transaction);
            await RecordPaymentAsync(connection, transaction, report, source, registration, "event_full", "due", now, null);
            return new ConfirmationResult(ConfirmationOutcome.RefundDue, refundDue);
        }

        RegistrationRow paid;
        long outboxId;
        await using (var written = await connection.QueryMultipleAsync(MarkPaidAndRecordPayment, new
        {
            report.PaymentId,
            report.OrderId,
            RegistrationId = registration.Id,
            registration.EventId,
            AmountPaise = report.AmountPaise ?? registration.AmountPaise,
            Currency = report.Currency ?? registration.Currency,
            Source = source,
            Now = now,
            Message = new TicketDeliveryMessage(registration.Id).ToJson(),
            Disposition = "applied",
            RefundStatus = (string?)null,
        }, transaction))
        {
            paid = await written.ReadSingleAsync<RegistrationRow>();
            outboxId = await written.ReadSingleAsync<long>();
            await written.ReadAsync<bool>();
        }

        return new ConfirmationResult(ConfirmationOutcome.Paid, paid, outboxId);
    }

    /// <summary>
    /// A live hold is a seat already counted against capacity. A late payment (hold expired)
    /// gets a seat only if the paid seats plus everyone else's live holds leave one free.
    /// </summary>
    private static async Task<bool> HasSeatAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, EventSeats seats, RegistrationRow registration, DateTime now)
    {
        if (seats.Capacity is not { } capacity)
        {
            return true;
        }

        if (seats.AttendeeCount >= capacity)
        {
            return false;
        }

        if (registration.Status == "pending" && registration.HoldExpiresAt > now)
        {
            return true;
        }

        var otherHolds = await SeatHolds.CountOthersAsync(connection, transaction, seats.Id, registration.Id, now);
        return seats.AttendeeCount + otherHolds < capacity;
    }

    private async Task RecordPaymentAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, PaymentReport report, string source,
        RegistrationRow? registration, string disposition, string? refundStatus, DateTime now, string? anomaly)
    {
        var inserted = await connection.ExecuteScalarAsync<bool?>(UpsertPayment, new
        {
            report.PaymentId,
            report.OrderId,
            RegistrationId = registration?.Id,
            AmountPaise = report.AmountPaise ?? registration?.AmountPaise,
            Currency = report.Currency ?? registration?.Currency,
            Disposition = disposition,
            Source = source,
            RefundStatus = refundStatus,
            Now = now,
        }, transaction);

        if (anomaly is not null && inserted is not null)
        {
            var kind = disposition == "amount_mismatch" ? AnomalyKind.AmountMismatch : AnomalyKind.UnknownOrder;
            await AnomalyLog.RecordAsync(connection, transaction,
                new Anomaly(kind, anomaly, registration?.EventId, registration?.Id, report.PaymentId), now);
        }
    }

    public static string SourceName(ConfirmationSource source) => source switch
    {
        ConfirmationSource.Checkout => "checkout",
        ConfirmationSource.Webhook => "webhook",
        _ => "reconciliation",
    };

    private sealed class EventSeats
    {
        public Guid Id { get; init; }
        public int? Capacity { get; init; }
        public int AttendeeCount { get; init; }
    }
}
