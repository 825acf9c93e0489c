using System.Net;
using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Confirmation;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Razorpay;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// Step 4: refunds. Paid registrations of a cancelled event whose refund is not yet owed are made
/// due first (the cancellation does it itself; this finishes one cut short). A payment whose refund
/// is <c>due</c> (paid for a full or cancelled event, a member's second payment, an operator's
/// refund) is refunded in full with an <c>X-Refund-Idempotency</c> key derived from the
/// payment id and a body built only from stored data, so a repeat (after a lost answer or a 409
/// "still processing") is the same request and never a second refund. It is then
/// <c>requested</c>, which no run requests again. The <c>refund.processed</c> webhook completes
/// it; if that webhook has not come after a while, the refund is looked up and completed here
/// through the same ledger.
/// </summary>
public sealed class RefundsStep(
    RazorpayClient razorpay,
    PaymentLedger ledger,
    Database database,
    IOptions<ReconciliationOptions> options,
    TimeProvider clock,
    ILogger<RefundsStep> logger) : IReconciliationStep
{
    private const string FindDue = """
        select payment_id, registration_id, disposition from payments
         where refund_status = 'due'
         order by updated_at
         limit @Limit
        """;

    private const string MarkRequested = """
        update payments
           set refund_status = 'requested', refund_id = @RefundId, refund_requested_at = @Now,
               refund_attempts = refund_attempts + 1, refund_last_error = null, updated_at = @Now
         where payment_id = @PaymentId and refund_status = 'due'
        """;

    private const string NoteAttempt = """
        update payments set refund_attempts = refund_attempts + 1, refund_last_error = @Error, updated_at = @Now
         where payment_id = @PaymentId and refund_status = 'due'
        """;

    private const string MarkRefused = """
        update payments set refund_status = 'failed', refund_attempts = refund_attempts + 1, refund_last_error = @Error, updated_at = @Now
         where payment_id = @PaymentId and refund_status = 'due'
        """;

    private const string FindRequested = """
        select payment_id, refund_id from payments
         where refund_status = 'requested' and refund_id is not null and refund_requested_at < @Before
         order by refund_requested_at
         limit @Limit
        """;

    public string Name => "refunds";

    public bool CallsRazorpay => true;

    /// <summary>Razorpay's key: 10+ characters of [A-Za-z0-9_-]; one refund per payment, so the payment id decides it.</summary>
    public static string IdempotencyKey(string paymentId) => "evreg-refund-" + paymentId;

    public async Task RunAsync(StepTally tally, CancellationToken cancellationToken)
    {
        // A cancellation makes its payments due itself; this finishes one that was cut short (database only).
        var owed = await ledger.OweRefundsOfCancelledEventsAsync(null, options.Value.BatchSize, options.Value.BatchSize, cancellationToken);
        if (owed > 0)
        {
            tally.Add("owed_for_cancelled_events", owed);
        }

        if (await RequestDueAsync(tally, cancellationToken))
        {
            await CheckRequestedAsync(tally, cancellationToken);
        }
    }

    /// <returns>False when Razorpay rate-limited the step.</returns>
    private async Task<bool> RequestDueAsync(StepTally tally, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var due = await database.RunAsync("reconcile_refunds_find", async connection =>
            (await connection.QueryAsync<(string PaymentId, Guid? RegistrationId, string Disposition)>(FindDue, new { Limit = settings.BatchSize })).ToList(),
            cancellationToken);

        var streak = new FailureStreak(settings.MaxConsecutiveFailures);
        for (var i = 0; i < due.Count; i++)
        {
            var (paymentId, registrationId, disposition) = due[i];
            using var paymentScope = logger.BeginPaymentScope(registrationId: registrationId, paymentId: paymentId);
            var receipt = "refund_" + paymentId;
            var notes = new Dictionary<string, string>
            {
                ["payment_id"] = paymentId,
                ["registration_id"] = registrationId?.ToString() ?? "",
                ["reason"] = disposition,
            };

            try
            {
                var refund = await razorpay.RefundAsync(paymentId, IdempotencyKey(paymentId), receipt.Length > 40 ? receipt[..40] : receipt, notes, cancellationToken);
                streak.Succeeded();
                await database.RunAsync("reconcile_refund_requested", connection => connection.ExecuteAsync(MarkRequested,
                    new { PaymentId = paymentId, RefundId = refund.Id, Now = Now() }), cancellationToken);
                tally.Add("requested");
                logger.LogInformation("Refund {RefundId} requested for payment {PaymentId} ({Reason})", refund.Id, paymentId, disposition);
                if (refund.Status == "processed")
                {
                    await ledger.RecordRefundProcessedAsync(refund, "reconciliation", cancellationToken);
                    tally.Add("completed");
                }
            }
            catch (RazorpayException e) when (e.Status == HttpStatusCode.Conflict)
            {
                // Razorpay is still working on the first request with this key; the next run asks again with the same key.
                tally.Add("in_progress");
                await NoteAsync(paymentId, "409: the refund request is still being processed", cancellationToken);
            }
            catch (RazorpayException e) when (e.Status == HttpStatusCode.TooManyRequests)
            {
                tally.Error();
                tally.Add("deferred", due.Count - i);
                await NoteAsync(paymentId, e.Message, cancellationToken);
                logger.LogWarning("Razorpay rate-limited refund requests at {PaymentId}; the rest wait for the next run", paymentId);
                return false;
            }
            catch (RazorpayException e) when (!e.Transient)
            {
                tally.Error();
                tally.Add("refused");
                logger.LogError("Razorpay refused the refund of {PaymentId}: {Code}; left for an operator", paymentId, e.Code);
                await database.InTransactionAsync("reconcile_refund_refused", async (connection, transaction) =>
                {
                    await connection.ExecuteAsync(MarkRefused, new { PaymentId = paymentId, Error = Trim(e.Message), Now = Now() }, transaction);
                    await AnomalyLog.RecordAsync(connection, transaction, new Anomaly(AnomalyKind.RefundRefused,
                        $"Razorpay refused the refund of payment {paymentId}: {Trim(e.Message)}", RegistrationId: registrationId, PaymentId: paymentId), Now());
                    return 0;
                }, cancellationToken);
            }
            catch (Exception e) when (e is RazorpayException or DependencyUnavailableException && !cancellationToken.IsCancellationRequested)
            {
                tally.Error();
                logger.LogWarning(e, "Refund of {PaymentId} not requested; the next run tries again with the same key", paymentId);
                await NoteAsync(paymentId, e.Message, cancellationToken);
                if (e is RazorpayException { Transient: true } or DependencyUnavailableException && streak.Failed())
                {
                    tally.Add("deferred", due.Count - i - 1);
                    logger.LogWarning("Razorpay failed {Failures} refund requests in a row; the remaining {Deferred} wait for the next run",
                        settings.MaxConsecutiveFailures, due.Count - i - 1);
                    return false;
                }
            }
        }

        return true;
    }

    private async Task CheckRequestedAsync(StepTally tally, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var before = Now().AddMinutes(-settings.RefundCheckAfterMinutes);
        var requested = await database.RunAsync("reconcile_refunds_requested", async connection =>
            (await connection.QueryAsync<(string PaymentId, string RefundId)>(FindRequested, new { Before = before, Limit = settings.BatchSize })).ToList(),
            cancellationToken);

        var streak = new FailureStreak(settings.MaxConsecutiveFailures);
        foreach (var (paymentId, refundId) in requested)
        {
            using var refundScope = logger.BeginPaymentScope(paymentId: paymentId, refundId: refundId);
            try
            {
                var refund = await razorpay.GetRefundAsync(refundId, cancellationToken);
                streak.Succeeded();
                switch (refund.Status)
                {
                    case "processed":
                        await ledger.RecordRefundProcessedAsync(refund with { PaymentId = paymentId }, "reconciliation", cancellationToken);
                        tally.Add("completed");
                        break;
                    case "failed":
                        await ledger.RecordRefundFailedAsync(refund with { PaymentId = paymentId }, "refund failed (found by reconciliation)", cancellationToken, "reconciliation");
                        tally.Add("failed");
                        break;
                    default:
                        tally.Add("still_pending");
                        break;
                }
            }
            catch (RazorpayException e) when (e.Status == HttpStatusCode.TooManyRequests)
            {
                tally.Error();
                logger.LogWarning("Razorpay rate-limited refund checks at {RefundId}; the rest wait for the next run", refundId);
                return;
            }
            catch (Exception e) when (e is RazorpayException or DependencyUnavailableException && !cancellationToken.IsCancellationRequested)
            {
                tally.Error();
                logger.LogWarning(e, "Refund {RefundId} of {PaymentId} not checked; the next run tries again", refundId, paymentId);
                if (e is RazorpayException { Transient: true } or DependencyUnavailableException && streak.Failed())
                {
                    logger.LogWarning("Razorpay failed {Failures} refund checks in a row; the rest wait for the next run", settings.MaxConsecutiveFailures);
                    return;
                }
            }
        }
    }

    private async Task NoteAsync(string paymentId, string error, CancellationToken cancellationToken)
    {
        try
        {
            await database.RunAsync("reconcile_refund_note", connection =>
                connection.ExecuteAsync(NoteAttempt, new { PaymentId = paymentId, Error = Trim(error), Now = Now() }), cancellationToken);
        }
        catch (DependencyUnavailableException)
        {
            // The refund stays due either way.
        }
    }

    private static string Trim(string text) => text.Length > 500 ? text[..500] : text;

    private DateTime Now() => clock.GetUtcNow().UtcDateTime;
}
