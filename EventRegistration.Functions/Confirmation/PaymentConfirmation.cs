using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace EventRegistration.Functions.Confirmation;

/// <summary>
/// The one confirmation code path, shared by the checkout callback, the webhook and the
/// reconciliation. One transaction takes, in this order, the payment's advisory lock, the
/// event row and the registration row; it decides, writes the registration, the seat count,
/// the payment record and the <c>queued</c> ticket delivery, and commits. The ticket's message
/// goes to the queue after commit; the delivery row is the durable record that a ticket is owed,
/// so a message that never gets there is enqueued by the reconciliation (invariant 8).
/// </summary>
public sealed class PaymentConfirmation(
    Database database,
    TicketQueue queue,
    RegistrationMetrics metrics,
    TimeProvider clock,
    ILogger<PaymentConfirmation> logger)
{
    /// <summary>
    /// One round trip that takes the locks in their order (payment, event, registration) and reads
    /// every fact the decision needs. The other live holds are counted only when the seat depends on
    /// them (capacity set and not reached, the registration's own hold lapsed); should this ever
    /// disagree with <see cref="ConfirmationDecision.HasSeat"/>, the decision throws rather than guess.
    /// </summary>
    internal const string ReadForDecision = $"""
        select pg_advisory_xact_lock(hashtextextended(@PaymentId, 0));
        select e.id from events e
         where e.id = (select r.event_id from event_registrations r where r.order_id = @OrderId)
           for update of e;
        select {RegistrationRow.Columns} from event_registrations where order_id = @OrderId for update;
        select id from event_registrations where payment_id = @PaymentId;
        select {LedgerPayment.Columns} from payments where payment_id = @PaymentId;
        select e.id as event_id, e.capacity, e.attendee_count, e.status = 'cancelled' as event_cancelled,
               case when e.capacity is not null and e.attendee_count < e.capacity
                         and not (r.status = 'pending' and r.hold_expires_at > @Now)
                    then (select count(*) from event_registrations o
                           where o.event_id = e.id and o.status = 'pending' and o.hold_expires_at > @Now and o.id <> r.id)
               end as other_live_holds
          from event_registrations r join events e on e.id = r.event_id
         where r.order_id = @OrderId;
        """;

    /// <summary>One round trip while the event row is locked: the registration, the seat, the ticket owed.</summary>
    private const string MarkPaid = $"""
        update event_registrations
           set status = 'paid', payment_id = @PaymentId, paid_at = @Now, confirmed_by = @Source,
               hold_expires_at = null, updated_at = @Now
         where id = @RegistrationId
        returning {RegistrationRow.Columns};
        update events set attendee_count = attendee_count + 1 where id = @EventId;
        insert into ticket_deliveries (registration_id, status, created_at, updated_at)
        values (@RegistrationId, 'queued', @Now, @Now)
        on conflict (registration_id) do nothing
        """;

    /// <summary>The payment is kept for a refund and holds no seat (event full, or not what the order asked).</summary>
    private const string MarkRefundDue = $"""
        update event_registrations
           set status = 'refund_due', payment_id = @PaymentId, paid_at = @Now, confirmed_by = @Source,
               refund_reason = @RefundReason, hold_expires_at = null, updated_at = @Now
         where id = @RegistrationId
        returning {RegistrationRow.Columns}
        """;

    /// <summary>A paid registration whose payment turns out not to pay for it gives its seat back.</summary>
    private const string WithdrawPaid = $"""
        update events set attendee_count = attendee_count - 1 where id = @EventId;
        update event_registrations
           set status = 'refund_due', refund_reason = @RefundReason, updated_at = @Now
         where id = @RegistrationId and status = 'paid'
        returning {RegistrationRow.Columns}
        """;

    /// <summary>The payment as decided. Under the payment's lock, so the decision already knows what the row held.</summary>
    private const string RecordPayment = """
        insert into payments (payment_id, order_id, registration_id, amount_paise, currency, status, disposition, source,
                              refund_status, first_seen_at, updated_at)
        values (@PaymentId, nullif(@OrderId, ''), @RegistrationId, @AmountPaise, @Currency, 'captured', @Disposition, @Source,
                @RefundStatus, @Now, @Now)
        on conflict (payment_id) do update
           set status = 'captured', disposition = excluded.disposition, registration_id = excluded.registration_id,
               order_id = coalesce(excluded.order_id, payments.order_id),
               amount_paise = coalesce(excluded.amount_paise, payments.amount_paise),
               currency = coalesce(excluded.currency, payments.currency),
               refund_status = excluded.refund_status, updated_at = excluded.updated_at
        """;

    /// <summary>
    /// The writes of a confirmed payment in one round trip (the app sends the COMMIT behind them).
    /// Whoever runs it reads every result to the end, never Dapper's QuerySingle: Dapper cancels a
    /// command whose results are left unread, which costs a second connection to the server and can
    /// abort the next statement.
    /// </summary>
    internal const string MarkPaidAndRecordPayment = MarkPaid + ";\n" + RecordPayment;

    public async Task<ConfirmationResult> ConfirmAsync(PaymentReport report, CancellationToken cancellationToken)
    {
        var source = SourceName(report.Source);
        using var scope = logger.BeginPaymentScope(orderId: report.OrderId, paymentId: report.PaymentId);
        var result = await database.InTransactionAsync("confirm_payment",
            transaction => DecideAndWriteAsync(transaction, report, source, clock.GetUtcNow().UtcDateTime), cancellationToken);

        var outcome = ConfirmationOutcomes.Name(result.Outcome);
        metrics.Confirmation(source, outcome);
        switch (result.Outcome)
        {
            case ConfirmationOutcome.Paid:
                logger.LogInformation("Confirmed {RegistrationId} with {PaymentId} from {Source}", result.Registration!.Id, report.PaymentId, source);
                break;
            case ConfirmationOutcome.RefundDue:
                logger.LogWarning("Payment {PaymentId} for {RegistrationId} arrived for a full event; refund due", report.PaymentId, result.Registration!.Id);
                break;
            case ConfirmationOutcome.PaymentUsedElsewhere or ConfirmationOutcome.MemberAlreadyPaid or ConfirmationOutcome.AmountMismatch
                or ConfirmationOutcome.UnknownOrder or ConfirmationOutcome.PaymentRefunded or ConfirmationOutcome.EventCancelled:
                metrics.PaymentConflict(outcome);
                logger.LogWarning("Payment {PaymentId} for order {OrderId} from {Source} not applied: {Outcome}", report.PaymentId, report.OrderId, source, outcome);
                break;
        }

        if (result.SendsTicket)
        {
            await SendTicketMessageAsync(result.Registration!.Id, cancellationToken);
        }

        return result;
    }

    /// <summary>
    /// After commit, so a message never names a ticket that a rolled-back transaction did not owe. A
    /// queue that cannot take it loses nothing: the <c>queued</c> delivery committed with the payment
    /// is enqueued by the reconciliation after <c>Reconciliation:UnsentDeliveryGraceSeconds</c>; the
    /// caller gets its normal answer.
    /// </summary>
    private async Task SendTicketMessageAsync(Guid registrationId, CancellationToken cancellationToken)
    {
        try
        {
            await queue.SendAsync(new TicketDeliveryMessage(registrationId), cancellationToken);
        }
        catch (Exception e) when (TicketQueue.IsUnavailable(e) && !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(e, "Ticket message for {RegistrationId} not sent; its queued delivery is enqueued by the reconciliation", registrationId);
        }
    }

    /// <summary>
    /// Two round trips for a paid registration: BEGIN and the lock timeout with the reads, then the
    /// writes with the COMMIT, so the event row is let go as soon as the server has written, not
    /// after the app gets a thread to ask for the commit. The other outcomes are rare and commit apart.
    /// </summary>
    private static async Task<ConfirmationResult> DecideAndWriteAsync(OpenTransaction transaction, PaymentReport report, string source, DateTime now)
    {
        ConfirmationFacts facts;
        await using (var read = await transaction.QueryFirstAsync(ReadForDecision, new { report.PaymentId, report.OrderId, Now = now }))
        {
            await read.ReadAsync();
            await read.ReadAsync<Guid>();
            var registration = await read.ReadSingleOrDefaultAsync<RegistrationRow>();
            var owner = await read.ReadSingleOrDefaultAsync<Guid?>();
            var known = await read.ReadSingleOrDefaultAsync<LedgerPayment>();
            var seats = await read.ReadSingleOrDefaultAsync<SeatRow>();
            facts = new ConfirmationFacts(report, registration,
                seats is null ? null : new SeatFacts(seats.EventId, seats.Capacity, seats.AttendeeCount, seats.OtherLiveHolds, seats.EventCancelled),
                owner, known, now);
        }

        var decision = ConfirmationDecision.Decide(facts);
        var connection = transaction.Connection;
        var npgsqlTransaction = transaction.Transaction;
        var registrationAfter = facts.Registration;
        var parameters = new WriteParameters(report, facts, decision, source, now);
        switch (decision.Change)
        {
            case RegistrationChange.MarkPaid:
                registrationAfter = await transaction.QuerySingleAndCommitAsync<RegistrationRow>(MarkPaidAndRecordPayment, parameters);
                return new ConfirmationResult(decision.Outcome, registrationAfter, SendsTicket: true);
            case RegistrationChange.MarkRefundDue:
                registrationAfter = await connection.QuerySingleAsync<RegistrationRow>(MarkRefundDue, parameters, npgsqlTransaction);
                break;
            case RegistrationChange.WithdrawPaid:
                registrationAfter = await connection.QuerySingleAsync<RegistrationRow>(WithdrawPaid, parameters, npgsqlTransaction);
                break;
        }

        if (decision.Payment is not null)
        {
            await connection.ExecuteAsync(RecordPayment, parameters, npgsqlTransaction);
            if (decision.Anomaly is { } anomaly)
            {
                await AnomalyLog.RecordAsync(connection, npgsqlTransaction, anomaly, now);
            }
        }

        return new ConfirmationResult(decision.Outcome, registrationAfter);
    }

    /// <summary>The parameters every write of the decision draws on.</summary>
    private sealed class WriteParameters(PaymentReport report, ConfirmationFacts facts, ConfirmationDecisionResult decision, string source, DateTime now)
    {
        public string PaymentId => report.PaymentId;
        public string OrderId => report.OrderId;
        public Guid? RegistrationId => facts.Registration?.Id;
        public Guid? EventId => facts.Registration?.EventId;
        public long? AmountPaise => report.AmountPaise ?? facts.Known?.AmountPaise ?? facts.Registration?.AmountPaise;
        public string? Currency => report.AmountPaise is not null ? report.Currency : facts.Known?.Currency ?? facts.Registration?.Currency;
        public string Source => source;
        public DateTime Now => now;
        public string? Disposition => decision.Payment?.Disposition;
        public string? RefundStatus => decision.Payment?.RefundStatus;
        public string? RefundReason => decision.RefundReason;
    }

    private sealed class SeatRow
    {
        public Guid EventId { get; init; }
        public int? Capacity { get; init; }
        public int AttendeeCount { get; init; }
        public long? OtherLiveHolds { get; init; }
        public bool EventCancelled { get; init; }
    }

    public static string SourceName(ConfirmationSource source) => source switch
    {
        ConfirmationSource.Checkout => "checkout",
        ConfirmationSource.Webhook => "webhook",
        _ => "reconciliation",
    };
}
