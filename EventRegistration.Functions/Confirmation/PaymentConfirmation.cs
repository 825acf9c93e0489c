using System.Data;
using System.Text.RegularExpressions;
using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace EventRegistration.Functions.Confirmation;

/// <summary>
/// The one confirmation code path, shared by the checkout callback, the webhook and the
/// reconciliation. One transaction takes, in this order, the payment's advisory lock, the
/// event row and the registration row; it decides, writes the registration, the seat count,
/// the payment record and the <c>queued</c> ticket delivery, and commits. The ticket's message
/// goes to the queue after commit; the delivery row is the durable record that a ticket is owed,
/// so a message that never gets there is enqueued by the reconciliation (invariant 8).
/// Confirmations that wait for a transaction together run in one, one after the other, each as
/// it would alone (<see cref="DecideAndWriteTogetherAsync"/>; docs/design.md, "Confirmations that
/// wait together commit together").
/// </summary>
public sealed partial class PaymentConfirmation(
    Database database,
    TicketQueue queue,
    RegistrationMetrics metrics,
    TimeProvider clock,
    IOptions<PostgresOptions> options,
    ILogger<PaymentConfirmation> logger)
{
    /// <summary>
    /// Runners of confirmation batches at once. Two: while one holds a hot event's row, the other
    /// has its batch queued behind it, so the row never waits for the app; a third would only queue
    /// on the same row, holding confirmations that arrived after the ones still waiting here (which
    /// leave in the order they came). Each runner holds one transaction slot while it runs.
    /// </summary>
    private const int Runners = 2;

    /// <summary>
    /// Confirmations that wait for a runner together run in one transaction, at most
    /// <see cref="PostgresOptions.ConfirmationsPerTransaction"/> of them.
    /// </summary>
    private readonly GroupCommit<Queued, ConfirmationResult?> _together = new(
        Math.Min(Runners, options.Value.MaxConcurrentTransactions),
        options.Value.ConfirmationsPerTransaction,
        batch => RunTogetherAsync(database, clock, metrics, logger, batch));

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

    /// <summary>Confirmations waiting for a runner to take them into a transaction.</summary>
    internal int Waiting => _together.Waiting;

    public async Task<ConfirmationResult> ConfirmAsync(PaymentReport report, CancellationToken cancellationToken)
    {
        var source = SourceName(report.Source);
        using var scope = logger.BeginPaymentScope(orderId: report.OrderId, paymentId: report.PaymentId);
        // A caller with a deadline (the webhook's answer to Razorpay) keeps its lock waits within it, on its own.
        var result = options.Value.ConfirmationsPerTransaction == 1 || database.HasDeadline
            ? await RunAloneAsync(database, clock, report, source, cancellationToken)
            : await _together.RunAsync(new Queued(report, source), cancellationToken)
                ?? await RunAloneAsync(database, clock, report, source, cancellationToken);

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

    /// <summary>One confirmation in a transaction of its own.</summary>
    private static Task<ConfirmationResult> RunAloneAsync(Database database, TimeProvider clock, PaymentReport report, string source, CancellationToken cancellationToken) =>
        database.InTransactionAsync("confirm_payment",
            transaction => DecideAndWriteAsync(transaction, report, source, clock.GetUtcNow().UtcDateTime), cancellationToken);

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
            facts = await ReadFactsAsync(read, report, now);
        }

        var decision = ConfirmationDecision.Decide(facts);
        var parameters = new WriteParameters(report, facts, decision, source, now);
        if (decision.Change == RegistrationChange.MarkPaid)
        {
            var paid = await transaction.QuerySingleAndCommitAsync<RegistrationRow>(MarkPaidAndRecordPayment, parameters);
            return new ConfirmationResult(decision.Outcome, paid, SendsTicket: true);
        }

        return await WriteOtherThanPaidAsync(transaction, facts, decision, parameters, now);
    }

    /// <summary>The results of <see cref="ReadForDecision"/>, the first of them the payment's lock.</summary>
    private static async Task<ConfirmationFacts> ReadFactsAsync(SqlMapper.GridReader read, PaymentReport report, DateTime now)
    {
        await read.ReadAsync();
        await read.ReadAsync<Guid>();
        var registration = await read.ReadSingleOrDefaultAsync<RegistrationRow>();
        var owner = await read.ReadSingleOrDefaultAsync<Guid?>();
        var known = await read.ReadSingleOrDefaultAsync<LedgerPayment>();
        var seats = await read.ReadSingleOrDefaultAsync<SeatRow>();
        return new ConfirmationFacts(report, registration,
            seats is null ? null : new SeatFacts(seats.EventId, seats.Capacity, seats.AttendeeCount, seats.OtherLiveHolds, seats.EventCancelled),
            owner, known, now);
    }

    /// <summary>The rare outcomes, in round trips of their own; the transaction is committed by whoever runs it.</summary>
    private static async Task<ConfirmationResult> WriteOtherThanPaidAsync(
        OpenTransaction transaction, ConfirmationFacts facts, ConfirmationDecisionResult decision, WriteParameters parameters, DateTime now)
    {
        var connection = transaction.Connection;
        var npgsqlTransaction = transaction.Transaction;
        var registrationAfter = facts.Registration;
        switch (decision.Change)
        {
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

    /// <summary>A confirmation waiting to run with others, and the source name it is recorded under.</summary>
    private sealed record Queued(PaymentReport Report, string Source);

    /// <summary>
    /// The locks of every confirmation of a batch, each kind in one statement and in the order
    /// every other writer takes them: the payments' (in payment id order, as the refund sweep of a
    /// cancelled event takes several), then the events' and the registrations' (by id). Each
    /// confirmation's own <see cref="ReadForDecision"/> then finds its locks held, and two batches,
    /// or a batch and a single confirmation, never wait on each other in a circle.
    /// </summary>
    internal const string LockBatch = """
        select pg_advisory_xact_lock(hashtextextended(id, 0))
          from (select distinct id from unnest(@PaymentIds::text[]) as id order by id) as ids;
        select e.id from events e
         where e.id in (select r.event_id from event_registrations r where r.order_id = any(@OrderIds::text[]))
         order by e.id
           for update of e;
        select r.id from event_registrations r where r.order_id = any(@OrderIds::text[]) order by r.id for update of r;
        """;

    private const int MaxTogether = 64;

    /// <summary>
    /// <see cref="ReadForDecision"/> and <see cref="MarkPaidAndRecordPayment"/> with their parameters
    /// named for the confirmation's place in a batch (<c>@PaymentId_3</c>), so that one round trip
    /// carries one confirmation's writes and the next one's reads. Npgsql numbers each statement's
    /// parameters afresh (<c>$1</c>, <c>$2</c>, …), so every place sends the server the same
    /// statement text, prepared once.
    /// </summary>
    private static readonly string[] ReadForDecisionAt = AtEachPlace(ReadForDecision);

    private static readonly string[] MarkPaidAndRecordPaymentAt = AtEachPlace(MarkPaidAndRecordPayment);

    private static string[] AtEachPlace(string sql) =>
        [.. Enumerable.Range(0, MaxTogether).Select(place => ParameterName().Replace(sql, $"@${{1}}_{place}"))];

    [GeneratedRegex(@"@(\w+)")]
    private static partial Regex ParameterName();

    /// <summary>
    /// Runs a batch: alone when it is one confirmation, otherwise in one transaction. A batch that
    /// fails has committed nothing. When the database as a whole could not run it (no transaction
    /// slot in time, the connection lost on both attempts), every caller gets that answer (503): alone,
    /// each would wait for the same again and answer it twice as late. Otherwise (one confirmation
    /// refused, a decision that throws, a lock timeout on some of its rows) each of its confirmations
    /// is answered null: its caller runs it alone, so one confirmation's failure is its own.
    /// </summary>
    private static async Task<ConfirmationResult?[]> RunTogetherAsync(
        Database database, TimeProvider clock, RegistrationMetrics metrics, ILogger logger, IReadOnlyList<Queued> batch)
    {
        if (batch.Count == 1)
        {
            var alone = await RunAloneAsync(database, clock, batch[0].Report, batch[0].Source, CancellationToken.None);
            metrics.ConfirmationsCommittedTogether(1);
            return [alone];
        }

        try
        {
            var results = await database.InTransactionAsync("confirm_payments",
                transaction => DecideAndWriteTogetherAsync(transaction, clock, batch), CancellationToken.None);
            metrics.ConfirmationsCommittedTogether(batch.Count);
            return results;
        }
        catch (DependencyUnavailableException e) when (!e.RowsBusy)
        {
            logger.LogWarning("{Count} confirmations that waited together could not run: {Reason}", batch.Count, e.Message);
            throw;
        }
        catch (Exception e)
        {
            metrics.ConfirmationsRunAgainAlone(batch.Count);
            logger.LogWarning(e, "{Count} confirmations that waited together did not commit together; each runs on its own", batch.Count);
            return new ConfirmationResult?[batch.Count];
        }
    }

    /// <summary>
    /// The confirmations of a batch one after the other in one transaction, each deciding on what
    /// the ones before it wrote, exactly as if each had committed before the next began. A paid
    /// registration's writes travel with the next confirmation's reads; the last one's with the
    /// COMMIT. Round trips: one for the locks and the first reads, then one per confirmation.
    /// </summary>
    private static async Task<ConfirmationResult?[]> DecideAndWriteTogetherAsync(OpenTransaction transaction, TimeProvider clock, IReadOnlyList<Queued> batch)
    {
        var results = new ConfirmationResult?[batch.Count];
        var now = clock.GetUtcNow().UtcDateTime;
        var first = new DynamicParameters();
        first.Add("PaymentIds", batch.Select(w => w.Report.PaymentId).ToArray());
        first.Add("OrderIds", batch.Select(w => w.Report.OrderId).ToArray());
        AddReadParameters(first, 0, batch[0].Report, now);
        var read = await transaction.QueryFirstAsync(LockBatch + ReadForDecisionAt[0], first);
        try
        {
            await read.ReadAsync();
            await read.ReadAsync<Guid>();
            await read.ReadAsync<Guid>();
            for (var place = 0; place < batch.Count; place++)
            {
                var (report, source) = batch[place];
                var facts = await ReadFactsAsync(read, report, now);
                var decision = ConfirmationDecision.Decide(facts);
                var parameters = new WriteParameters(report, facts, decision, source, now);
                var written = new DynamicParameters();
                parameters.AddTo(written, place);
                await read.DisposeAsync();
                var last = place == batch.Count - 1;
                if (decision.Change == RegistrationChange.MarkPaid && last)
                {
                    var paid = await transaction.QuerySingleAndCommitAsync<RegistrationRow>(MarkPaidAndRecordPaymentAt[place], written);
                    results[place] = new ConfirmationResult(decision.Outcome, paid, SendsTicket: true);
                    break;
                }

                now = clock.GetUtcNow().UtcDateTime;
                if (decision.Change == RegistrationChange.MarkPaid)
                {
                    AddReadParameters(written, place + 1, batch[place + 1].Report, now);
                    read = await transaction.Connection.QueryMultipleAsync(
                        MarkPaidAndRecordPaymentAt[place] + ";\n" + ReadForDecisionAt[place + 1], written, transaction.Transaction);
                    results[place] = new ConfirmationResult(decision.Outcome, await read.ReadSingleAsync<RegistrationRow>(), SendsTicket: true);
                    continue;
                }

                results[place] = await WriteOtherThanPaidAsync(transaction, facts, decision, parameters, facts.Now);
                if (!last)
                {
                    var next = new DynamicParameters();
                    AddReadParameters(next, place + 1, batch[place + 1].Report, now);
                    read = await transaction.Connection.QueryMultipleAsync(ReadForDecisionAt[place + 1], next, transaction.Transaction);
                }
            }
        }
        finally
        {
            await read.DisposeAsync();
        }

        return results;
    }

    private static void AddReadParameters(DynamicParameters parameters, int place, PaymentReport report, DateTime now)
    {
        parameters.Add($"PaymentId_{place}", report.PaymentId, DbType.String);
        parameters.Add($"OrderId_{place}", report.OrderId, DbType.String);
        parameters.Add($"Now_{place}", now, DbType.DateTime);
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

        /// <summary>The same values, named for a confirmation's place in a batch; typed, so every place prepares one statement.</summary>
        public void AddTo(DynamicParameters parameters, int place)
        {
            parameters.Add($"PaymentId_{place}", PaymentId, DbType.String);
            parameters.Add($"OrderId_{place}", OrderId, DbType.String);
            parameters.Add($"RegistrationId_{place}", RegistrationId, DbType.Guid);
            parameters.Add($"EventId_{place}", EventId, DbType.Guid);
            parameters.Add($"AmountPaise_{place}", AmountPaise, DbType.Int64);
            parameters.Add($"Currency_{place}", Currency, DbType.String);
            parameters.Add($"Source_{place}", Source, DbType.String);
            parameters.Add($"Now_{place}", Now, DbType.DateTime);
            parameters.Add($"Disposition_{place}", Disposition, DbType.String);
            parameters.Add($"RefundStatus_{place}", RefundStatus, DbType.String);
            parameters.Add($"RefundReason_{place}", RefundReason, DbType.String);
        }
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
