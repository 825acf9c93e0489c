using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Razorpay;
using Microsoft.Extensions.Logging;

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

    private const string FindHolder = "select id, event_id from event_registrations where payment_id = @PaymentId";

    private const string LockEventAndRegistration = $"""
        select id from events where id = @EventId for update;
        select {RegistrationRow.Columns} from event_registrations where id = @RegistrationId for update;
        """;

    private const string MarkPaymentRefunded = """
        update payments set refund_status = 'processed', refund_id = @RefundId, refunded_at = @Now, refund_last_error = null, updated_at = @Now
         where payment_id = @PaymentId
        """;

    private const string InsertObservedRefund = """
        insert into payments (payment_id, status, disposition, source, refund_status, refund_id, refunded_at, amount_paise, first_seen_at, updated_at)
        values (@PaymentId, 'captured', 'observed', @Source, @RefundStatus, @RefundId, @RefundedAt, @Amount, @Now, @Now)
        on conflict (payment_id) do nothing
        """;

    private const string ReleaseSeat = """
        update event_registrations set status = 'refunded', refunded_at = @Now, updated_at = @Now where id = @RegistrationId;
        update events set attendee_count = attendee_count - 1 where id = @EventId;
        """;

    private const string MarkRefunded = """
        update event_registrations set status = 'refunded', refunded_at = @Now, updated_at = @Now where id = @RegistrationId
        """;

    private const string MarkRefundFailed = """
        update payments set refund_status = 'failed', refund_id = @RefundId, refund_last_error = @Error, updated_at = @Now
         where payment_id = @PaymentId and refund_status is distinct from 'processed'
        """;

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
    /// A processed refund: the payment is marked refunded; its registration becomes
    /// <c>refunded</c> and, if it held a seat (was paid), the seat is released in the same transaction.
    /// </summary>
    public Task<string> RecordRefundProcessedAsync(RazorpayRefund refund, string source, CancellationToken cancellationToken) =>
        database.InTransactionAsync("record_refund", async (connection, transaction) =>
        {
            var now = clock.GetUtcNow().UtcDateTime;
            var parameters = new { refund.PaymentId, RefundId = refund.Id, Now = now };
            await connection.ExecuteAsync(LockPayment, parameters, transaction);
            var holder = await connection.QuerySingleOrDefaultAsync<(Guid Id, Guid EventId)?>(FindHolder, parameters, transaction);
            if (await connection.ExecuteAsync(MarkPaymentRefunded, parameters, transaction) == 0)
            {
                await connection.ExecuteAsync(InsertObservedRefund, new
                {
                    refund.PaymentId, RefundId = refund.Id, Source = source, RefundStatus = "processed", RefundedAt = now, refund.Amount, Now = now,
                }, transaction);
                await AnomalyLog.RecordAsync(connection, transaction, new Anomaly(AnomalyKind.RefundUnknownPayment,
                    $"Refund {refund.Id} of {refund.Amount} for payment {refund.PaymentId}, which this system never recorded.", PaymentId: refund.PaymentId), now);
            }

            if (holder is not { } h)
            {
                return "refund_recorded";
            }

            RegistrationRow registration;
            await using (var read = await connection.QueryMultipleAsync(LockEventAndRegistration, new { h.EventId, RegistrationId = h.Id }, transaction))
            {
                await read.ReadAsync();
                registration = await read.ReadSingleAsync<RegistrationRow>();
            }

            if (refund.Amount < registration.AmountPaise)
            {
                await AnomalyLog.RecordAsync(connection, transaction, new Anomaly(AnomalyKind.PartialRefund,
                    $"Refund {refund.Id} returned {refund.Amount} of {registration.AmountPaise}; the registration keeps its status.", h.EventId, h.Id, refund.PaymentId), now);
                return "partial_refund_recorded";
            }

            switch (registration.Status)
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

    public Task<string> RecordRefundFailedAsync(RazorpayRefund refund, string reason, CancellationToken cancellationToken) =>
        database.InTransactionAsync("record_refund_failed", async (connection, transaction) =>
        {
            var now = clock.GetUtcNow().UtcDateTime;
            await connection.ExecuteAsync(LockPayment, new { refund.PaymentId }, transaction);
            var updated = await connection.ExecuteAsync(MarkRefundFailed, new { refund.PaymentId, RefundId = refund.Id, Error = reason, Now = now }, transaction);
            await AnomalyLog.RecordAsync(connection, transaction, new Anomaly(AnomalyKind.RefundFailed,
                $"Refund {refund.Id} for payment {refund.PaymentId} failed: {reason}", PaymentId: refund.PaymentId), now);
            logger.LogError("Refund {RefundId} for {PaymentId} failed", refund.Id, refund.PaymentId);
            return updated > 0 ? "refund_failure_recorded" : "refund_failure_unknown_payment";
        }, cancellationToken);
}
