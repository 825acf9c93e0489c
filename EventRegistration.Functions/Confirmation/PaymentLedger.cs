using System.Globalization;
using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Razorpay;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace EventRegistration.Functions.Confirmation;

/// <summary>
/// What Razorpay reports besides a capture: failed attempts and refunds. Each takes the
/// payment's advisory lock first, like the confirmation, so reports about one payment apply
/// one at a time and in any order: a failure never undoes a capture, a refund applies once.
/// </summary>
public sealed class PaymentLedger(Database database, TimeProvider clock, ILogger<PaymentLedger> logger)
{
    private const string LockPayment = "select pg_advisory_xact_lock(hashtextextended(@PaymentId, 0))";

    private const string InsertFailedAttempt = """
        insert into payments (payment_id, order_id, registration_id, amount_paise, currency, status, disposition, source,
                              error_code, error_description, first_seen_at, updated_at)
        values (@PaymentId, @OrderId, (select id from event_registrations where order_id = @OrderId), @AmountPaise, @Currency,
                'failed', 'failed_attempt', @Source, @ErrorCode, @ErrorDescription, @Now, @Now)
        on conflict (payment_id) do nothing
        returning registration_id
        """;

    private const string NoteFailedAttempt = """
        update event_registrations
           set failed_attempts = failed_attempts + 1, last_payment_error = @Error, updated_at = @Now
         where id = @RegistrationId
        """;

    private const string ReadPayment = $"select {LedgerPayment.Columns} from payments where payment_id = @PaymentId";

    private const string FindHolder = "select id, event_id from event_registrations where payment_id = @PaymentId";

    private const string LockEventAndRegistration = $"""
        select id from events where id = @EventId for update;
        select {RegistrationRow.Columns} from event_registrations where id = @RegistrationId for update;
        """;

    /// <summary>A payment first seen in a refund event: what its payment entity says, if the event carried one.</summary>
    private const string InsertObserved = """
        insert into payments (payment_id, order_id, amount_paise, currency, status, disposition, source, first_seen_at, updated_at)
        values (@PaymentId, @OrderId, @AmountPaise, @Currency, 'captured', 'observed', @Source, @Now, @Now)
        """;

    /// <summary>Returns a row only when this refund id is new to the ledger, or was known as failed: a repeat changes nothing.</summary>
    private const string RecordProcessedRefund = """
        insert into refunds (refund_id, payment_id, amount_paise, status, source, first_seen_at, updated_at)
        values (@RefundId, @PaymentId, @Amount, 'processed', @Source, @Now, @Now)
        on conflict (refund_id) do update set status = 'processed', last_error = null, updated_at = excluded.updated_at
         where refunds.status <> 'processed'
        returning refund_id
        """;

    private const string SumProcessedRefunds = """
        select coalesce(sum(amount_paise), 0)::bigint from refunds where payment_id = @PaymentId and status = 'processed'
        """;

    private const string UpdatePaymentRefunds = """
        update payments
           set amount_refunded_paise = @Refunded, refund_status = @RefundStatus,
               refunded_at = case when @Whole then coalesce(refunded_at, @Now) else refunded_at end,
               refund_last_error = case when @Whole then null else refund_last_error end,
               updated_at = @Now
         where payment_id = @PaymentId
        """;

    private const string ReleaseSeat = """
        update event_registrations set status = 'refunded', refunded_at = @Now, updated_at = @Now where id = @RegistrationId;
        update events set attendee_count = attendee_count - 1 where id = @EventId;
        """;

    private const string MarkRefunded = """
        update event_registrations set status = 'refunded', refunded_at = @Now, updated_at = @Now where id = @RegistrationId
        """;

    /// <summary>A processed refund never turns failed.</summary>
    private const string RecordFailedRefund = """
        insert into refunds (refund_id, payment_id, amount_paise, status, source, last_error, first_seen_at, updated_at)
        values (@RefundId, @PaymentId, @Amount, 'failed', @Source, @Error, @Now, @Now)
        on conflict (refund_id) do update set last_error = excluded.last_error, updated_at = excluded.updated_at
         where refunds.status = 'failed'
        returning refund_id
        """;

    /// <summary>The refund this app requested failed: what it owes is stuck until an operator acts.</summary>
    private const string MarkOwedRefundFailed = """
        update payments set refund_status = 'failed', refund_last_error = @Error, updated_at = @Now
         where payment_id = @PaymentId and refund_id = @RefundId and refund_status in ('due', 'requested')
        """;

    /// <summary>Paid registrations of cancelled events whose payment owes nothing yet, in payment id order (the order their locks are taken in).</summary>
    private const string FindOwedByCancellation = """
        select p.payment_id from payments p
          join event_registrations r on r.id = p.registration_id and r.payment_id = p.payment_id
          join events e on e.id = r.event_id
         where e.status = 'cancelled' and (@EventId::uuid is null or e.id = @EventId)
           and r.status = 'paid' and p.disposition = 'applied'
           and (p.refund_status is null or p.refund_status = 'partial')
           and p.payment_id > @After
         order by p.payment_id
         limit @Limit
        """;

    /// <summary>
    /// Each payment's lock, in the order given (payment id order; this is the only statement that
    /// takes several, so two sweeps cannot deadlock, and nothing here waits on an event row).
    /// </summary>
    private const string LockPayments = "select pg_advisory_xact_lock(hashtextextended(id, 0)) from unnest(@Ids::text[]) as id";

    /// <summary>Rechecked under the locks: what was paid and is not yet owed back becomes due for the whole remaining balance.</summary>
    private const string OweForCancellation = """
        update payments p set refund_status = 'due', refund_last_error = null, updated_at = @Now
          from event_registrations r, events e
         where p.payment_id = any(@Ids) and r.id = p.registration_id and r.payment_id = p.payment_id and e.id = r.event_id
           and e.status = 'cancelled' and r.status = 'paid' and p.disposition = 'applied'
           and (p.refund_status is null or p.refund_status = 'partial')
        """;

    /// <summary>An operator's refund of one paid registration: due for the whole remaining balance, if nothing is owed yet.</summary>
    private const string OweOne = """
        update payments set refund_status = 'due', refund_last_error = null, updated_at = @Now
         where payment_id = @PaymentId and disposition = 'applied' and (refund_status is null or refund_status = 'partial')
        """;

    /// <summary>
    /// A cancelled event refunds every paid registration: each payment is made <c>due</c> under its
    /// own lock (as every other ledger write takes it), and the reconciliation's refund step requests
    /// it from Razorpay with the payment's idempotency key. The registration stays <c>paid</c> until
    /// Razorpay reports the whole amount back (<see cref="RecordRefundProcessedAsync"/> then releases
    /// the seat), so no seat is freed on a promise. Idempotent; run by the cancellation itself and by
    /// every reconciliation, which finishes what a cancellation cut short.
    /// </summary>
    /// <param name="eventId">One event, or null for every cancelled event.</param>
    /// <returns>How many payments became due.</returns>
    public async Task<int> OweRefundsOfCancelledEventsAsync(Guid? eventId, int batchSize, int maxPayments, CancellationToken cancellationToken)
    {
        var owed = 0;
        var after = "";
        for (var seen = 0; seen < maxPayments;)
        {
            var batch = await database.RunAsync("ledger_find_cancelled", async connection =>
                (await connection.QueryAsync<string>(new CommandDefinition(FindOwedByCancellation,
                    new { EventId = eventId, After = after, Limit = Math.Min(batchSize, maxPayments - seen) }, cancellationToken: cancellationToken))).ToArray(),
                cancellationToken);
            if (batch.Length == 0)
            {
                break;
            }

            Array.Sort(batch, StringComparer.Ordinal);
            owed += await database.InTransactionAsync("ledger_owe_cancelled", async (connection, transaction) =>
            {
                await connection.ExecuteAsync(LockPayments, new { Ids = batch }, transaction);
                return await connection.ExecuteAsync(OweForCancellation, new { Ids = batch, Now = clock.GetUtcNow().UtcDateTime }, transaction);
            }, cancellationToken);
            seen += batch.Length;
            after = batch[^1];
        }

        if (owed > 0)
        {
            logger.LogInformation("{Owed} payments of cancelled events are now due for refund", owed);
        }

        return owed;
    }

    /// <summary>
    /// Makes one applied payment's refund due, inside the caller's transaction, after taking the
    /// payment's lock (the caller takes nothing before it but may lock the registration after).
    /// </summary>
    /// <returns>The payment as the ledger held it before, or null when it has no record.</returns>
    public static async Task<LedgerPayment?> LockAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string paymentId)
    {
        await connection.ExecuteAsync(LockPayment, new { PaymentId = paymentId }, transaction);
        return await connection.QuerySingleOrDefaultAsync<LedgerPayment>(ReadPayment, new { PaymentId = paymentId }, transaction);
    }

    /// <returns>False when the payment is not applied or already owes a refund (nothing written).</returns>
    public static async Task<bool> OweRefundAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string paymentId, DateTime now) =>
        await connection.ExecuteAsync(OweOne, new { PaymentId = paymentId, Now = now }, transaction) == 1;

    /// <returns>"failed_attempt_recorded", or "duplicate" when this attempt was already known (or is captured).</returns>
    public Task<string> RecordFailedAttemptAsync(RazorpayPayment payment, string source, CancellationToken cancellationToken) =>
        database.InTransactionAsync("record_failed_attempt", async (connection, transaction) =>
        {
            var now = clock.GetUtcNow().UtcDateTime;
            await connection.ExecuteAsync(LockPayment, new { PaymentId = payment.Id }, transaction);
            var registrationId = await connection.QuerySingleOrDefaultAsync<Guid?>(InsertFailedAttempt, new
            {
                PaymentId = payment.Id,
                payment.OrderId,
                AmountPaise = payment.Amount,
                payment.Currency,
                Source = source,
                payment.ErrorCode,
                payment.ErrorDescription,
                Now = now,
            }, transaction);

            if (registrationId is null)
            {
                return "duplicate";
            }

            var error = $"{payment.ErrorCode}: {payment.ErrorDescription}";
            await connection.ExecuteAsync(NoteFailedAttempt,
                new { RegistrationId = registrationId, Error = error.Length > 500 ? error[..500] : error, Now = now }, transaction);
            return "failed_attempt_recorded";
        }, cancellationToken);

    /// <summary>
    /// A processed refund, kept by its refund id. The payment counts as refunded only when the whole
    /// amount has come back (the refunds recorded here, or Razorpay's cumulative
    /// <c>amount_refunded</c>, whichever knows more); only then does its registration become
    /// <c>refunded</c> and release its seat. A part refund leaves the registration as it is, and what
    /// this app owes (<c>due</c>/<c>requested</c>) stays owed for the rest.
    /// </summary>
    public async Task<string> RecordRefundProcessedAsync(RazorpayRefund refund, string source, CancellationToken cancellationToken)
    {
        using var scope = logger.BeginPaymentScope(paymentId: refund.PaymentId, refundId: refund.Id);
        return await database.InTransactionAsync("record_refund", async (connection, transaction) =>
        {
            var now = clock.GetUtcNow().UtcDateTime;
            var payment = refund.Payment is { } p && p.Id == refund.PaymentId ? p : null;
            await connection.ExecuteAsync(LockPayment, new { refund.PaymentId }, transaction);
            var known = await KnownOrObservedAsync(connection, transaction, refund, payment, source, now);
            if (await connection.QuerySingleOrDefaultAsync<string>(RecordProcessedRefund,
                    new { RefundId = refund.Id, refund.PaymentId, refund.Amount, Source = source, Now = now }, transaction) is null)
            {
                return "refund_already_recorded";
            }

            var recorded = await connection.ExecuteScalarAsync<long>(SumProcessedRefunds, new { refund.PaymentId }, transaction);
            var refunded = Math.Max(Math.Max(known.AmountRefundedPaise, recorded), payment?.AmountRefunded ?? 0);
            var whole = known.AmountPaise is { } amount ? refunded >= amount : payment?.RefundStatus == "full";
            if (known.AmountPaise is { } paid && refunded > paid)
            {
                await AnomalyLog.RecordAsync(connection, transaction, new Anomaly(AnomalyKind.RefundExceedsPayment,
                    $"Refunds of payment {refund.PaymentId} add up to {refunded}, more than its {paid}.", PaymentId: refund.PaymentId), now);
            }

            var holder = await connection.QuerySingleOrDefaultAsync<(Guid Id, Guid EventId)?>(FindHolder, new { refund.PaymentId }, transaction);
            RegistrationRow? registration = null;
            if (whole && holder is { } locked)
            {
                await using var read = await connection.QueryMultipleAsync(LockEventAndRegistration, new { locked.EventId, RegistrationId = locked.Id }, transaction);
                await read.ReadAsync();
                registration = await read.ReadSingleAsync<RegistrationRow>();
            }

            await connection.ExecuteAsync(UpdatePaymentRefunds, new
            {
                refund.PaymentId,
                Refunded = refunded,
                RefundStatus = whole ? "processed" : known.RefundStatus ?? "partial",
                Whole = whole,
                Now = now,
            }, transaction);

            if (!whole)
            {
                await AnomalyLog.RecordAsync(connection, transaction, new Anomaly(AnomalyKind.PartialRefund,
                    $"Refund {refund.Id} returned {refund.Amount}; {refunded} of {known.AmountPaise?.ToString(CultureInfo.InvariantCulture) ?? "an unknown amount"} is refunded so far"
                    + (holder is null ? "." : "; the registration keeps its status until the whole amount is refunded."),
                    holder?.EventId, holder?.Id, refund.PaymentId), now);
                return "partial_refund_recorded";
            }

            if (holder is not { } h)
            {
                return "refund_recorded";
            }

            switch (registration!.Status)
            {
                case "paid":
                    await connection.ExecuteAsync(ReleaseSeat, new { RegistrationId = h.Id, h.EventId, Now = now }, transaction);
                    logger.LogInformation("Refund {RefundId} released the seat of {RegistrationId}", refund.Id, h.Id);
                    return "refunded_seat_released";
                case "refund_due":
                    await connection.ExecuteAsync(MarkRefunded, new { RegistrationId = h.Id, Now = now }, transaction);
                    return "refunded";
                default:
                    return "already_refunded";
            }
        }, cancellationToken);
    }

    /// <summary>
    /// A failed refund, kept by its refund id. If it was the refund this app requested for what it
    /// owes, the debt is marked failed for an operator; a failed refund someone else started (the
    /// Dashboard) changes nothing owed.
    /// </summary>
    public async Task<string> RecordRefundFailedAsync(RazorpayRefund refund, string reason, CancellationToken cancellationToken, string source = "webhook")
    {
        using var scope = logger.BeginPaymentScope(paymentId: refund.PaymentId, refundId: refund.Id);
        return await database.InTransactionAsync("record_refund_failed", async (connection, transaction) =>
        {
            var now = clock.GetUtcNow().UtcDateTime;
            var payment = refund.Payment is { } p && p.Id == refund.PaymentId ? p : null;
            await connection.ExecuteAsync(LockPayment, new { refund.PaymentId }, transaction);
            await KnownOrObservedAsync(connection, transaction, refund, payment, source, now);
            var error = reason.Length > 500 ? reason[..500] : reason;
            if (await connection.QuerySingleOrDefaultAsync<string>(RecordFailedRefund,
                    new { RefundId = refund.Id, refund.PaymentId, refund.Amount, Source = source, Error = error, Now = now }, transaction) is null)
            {
                return "refund_failure_ignored";
            }

            var owed = await connection.ExecuteAsync(MarkOwedRefundFailed, new { refund.PaymentId, RefundId = refund.Id, Error = error, Now = now }, transaction);
            await AnomalyLog.RecordAsync(connection, transaction, new Anomaly(AnomalyKind.RefundFailed,
                $"Refund {refund.Id} for payment {refund.PaymentId} failed: {reason}", PaymentId: refund.PaymentId), now);
            logger.LogError("Refund {RefundId} for {PaymentId} failed", refund.Id, refund.PaymentId);
            return owed > 0 ? "refund_failure_recorded" : "refund_failure_noted";
        }, cancellationToken);
    }

    /// <summary>What the ledger knows of the refunded payment; one it never saw is recorded as observed, for an operator.</summary>
    private static async Task<LedgerPayment> KnownOrObservedAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, RazorpayRefund refund, RazorpayPayment? payment, string source, DateTime now)
    {
        var known = await connection.QuerySingleOrDefaultAsync<LedgerPayment>(ReadPayment, new { refund.PaymentId }, transaction);
        if (known is not null)
        {
            return known;
        }

        await connection.ExecuteAsync(InsertObserved, new
        {
            refund.PaymentId,
            payment?.OrderId,
            AmountPaise = payment?.Amount,
            payment?.Currency,
            Source = source,
            Now = now,
        }, transaction);
        await AnomalyLog.RecordAsync(connection, transaction, new Anomaly(AnomalyKind.RefundUnknownPayment,
            $"Refund {refund.Id} of {refund.Amount} for payment {refund.PaymentId}, which this system had not recorded.", PaymentId: refund.PaymentId), now);
        return await connection.QuerySingleAsync<LedgerPayment>(ReadPayment, new { refund.PaymentId }, transaction);
    }
}
