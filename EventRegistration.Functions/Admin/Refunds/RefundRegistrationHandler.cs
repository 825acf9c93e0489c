using Dapper;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Confirmation;
using EventRegistration.Functions.Infrastructure.Database;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Admin.Refunds;

/// <summary>Where a registration's refund stands, as the refund route answers it.</summary>
public sealed record RefundState(
    Guid RegistrationId, string RegistrationStatus, string PaymentId, string? RefundStatus, long? AmountPaise, long AmountRefundedPaise);

/// <summary>What an operator's refund came to. <see cref="RefundRegistrationFunction"/> maps each to HTTP, in one switch.</summary>
public abstract record RefundOutcome
{
    private RefundOutcome()
    {
    }

    /// <summary>This call made the refund due (202).</summary>
    public sealed record Owed(RefundState State) : RefundOutcome;

    /// <summary>A refund of the payment is already owed or requested (this call's earlier copy, a cancellation, a full event): 202, nothing written.</summary>
    public sealed record UnderWay(RefundState State) : RefundOutcome;

    /// <summary>The whole payment is back already: 200, nothing written.</summary>
    public sealed record Refunded(RefundState State) : RefundOutcome;

    /// <summary>Nothing this app can refund (never paid, or Razorpay failed an earlier refund of it): 409, nothing written.</summary>
    public sealed record NotRefundable(string Status, string Why) : RefundOutcome;

    public sealed record NotFound : RefundOutcome;
}

/// <summary>
/// An operator's refund of one registration. It goes through the ledger like every other refund:
/// the payment is made <c>due</c> under its lock, the reconciliation requests it from Razorpay with
/// the payment's idempotency key, and the registration keeps its seat until Razorpay reports the
/// whole amount back, when the ledger releases it. Who asked and why are written to
/// <c>admin_audit</c> in the same transaction.
/// </summary>
public sealed class RefundRegistrationHandler(Database database, TimeProvider clock, ILogger<RefundRegistrationHandler> logger)
{
    private const string FindPayment = "select status, payment_id from event_registrations where id = @Id";

    private const string LockRegistration = $"select {RegistrationRow.Columns} from event_registrations where id = @Id for update";

    public async Task<RefundOutcome> RefundAsync(AdminActor actor, Guid registrationId, string reason, CancellationToken cancellationToken)
    {
        // The payment id first, from a plain read: its lock is taken before the registration's, as every payment writer takes them.
        var found = await database.RunAsync("admin_refund_find", connection =>
            connection.QuerySingleOrDefaultAsync<(string Status, string? PaymentId)?>(FindPayment, new { Id = registrationId }), cancellationToken);
        if (found is not { } registration)
        {
            return new RefundOutcome.NotFound();
        }

        if (registration.PaymentId is not { } paymentId)
        {
            return new RefundOutcome.NotRefundable(registration.Status, "it was never paid: there is no payment to refund");
        }

        var outcome = await database.InTransactionAsync<RefundOutcome>("admin_refund_registration", async (connection, transaction) =>
        {
            var now = clock.GetUtcNow();
            var known = await PaymentLedger.LockAsync(connection, transaction, paymentId);
            var locked = await connection.QuerySingleAsync<RegistrationRow>(LockRegistration, new { Id = registrationId }, transaction);
            var state = new RefundState(registrationId, locked.Status, paymentId, known?.RefundStatus, known?.AmountPaise, known?.AmountRefundedPaise ?? 0);
            var decided = Decide(locked, known, state);
            if (decided is not RefundOutcome.Owed)
            {
                return decided;
            }

            if (!await PaymentLedger.OweRefundAsync(connection, transaction, paymentId, now.UtcDateTime))
            {
                throw new InvalidOperationException($"Payment {paymentId} could not be made due although the decision said it could.");
            }

            var owed = state with { RefundStatus = "due" };
            await AdminAudit.RecordAsync(connection, transaction, actor, "registration.refund", registrationId.ToString(),
                new { registrationStatus = locked.Status, paymentId, refundStatus = known!.RefundStatus },
                new { registrationStatus = locked.Status, paymentId, refundStatus = "due", reason }, now);
            return new RefundOutcome.Owed(owed);
        }, cancellationToken);

        if (outcome is RefundOutcome.Owed)
        {
            logger.LogWarning("Refund of {RegistrationId} ({PaymentId}) asked by {Actor}", registrationId, paymentId, actor.Name);
        }

        return outcome;
    }

    /// <summary>The rule, from the registration and its payment as they stand under the payment's lock.</summary>
    public static RefundOutcome Decide(RegistrationRow registration, LedgerPayment? payment, RefundState state) =>
        (registration.Status, payment?.RefundStatus) switch
        {
            (_, "failed") => new RefundOutcome.NotRefundable(registration.Status,
                "Razorpay failed or refused an earlier refund of its payment; see the refund_failed or refund_refused anomaly and act in the Razorpay Dashboard"),
            ("refunded", _) or (_, "processed") => new RefundOutcome.Refunded(state),
            (_, "due" or "requested") => new RefundOutcome.UnderWay(state),
            ("paid", null or "partial") when payment?.Disposition == Dispositions.Applied => new RefundOutcome.Owed(state),
            _ => new RefundOutcome.NotRefundable(registration.Status, $"it is {registration.Status}: there is no paid seat to refund"),
        };
}
