using System.Net;
using Dapper;
using EventRegistration.Functions.Confirmation;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Razorpay;
using EventRegistration.Functions.Infrastructure.Telemetry;
using EventRegistration.Functions.Webhooks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// Step 3: pending registrations whose order is old enough that the checkout callback and the
/// webhook should have come, but young enough to still matter, are asked about at Razorpay
/// (<c>GET /v1/orders/{id}/payments</c>, failed attempts included; the endpoint returns every
/// payment of the order, so there is nothing to page through). A captured payment goes through
/// the one confirmation code path; a failed attempt is recorded. Least recently checked first,
/// so a bounded run never starves the rest. Then expired seat holds are released.
/// </summary>
public sealed class OrdersStep(
    RazorpayClient razorpay,
    PaymentConfirmation confirmation,
    PaymentLedger ledger,
    Database database,
    IOptions<ReconciliationOptions> options,
    TimeProvider clock,
    ILogger<OrdersStep> logger) : IReconciliationStep
{
    private const string Source = "reconciliation";

    private const string FindPendingOrders = """
        select id, order_id from event_registrations
         where status = 'pending' and order_id is not null
           and created_at < @CheckBefore and created_at > @HorizonAfter
         order by reconciled_at nulls first, created_at
         limit @Limit
        """;

    /// <summary>Not updated_at: asking Razorpay changes nothing about the registration itself.</summary>
    private const string MarkChecked = "update event_registrations set reconciled_at = @Now where id = @Id";

    /// <summary>
    /// A hold past its expiry already counts for nothing (every seat count reads
    /// <c>hold_expires_at &gt; now</c>); releasing it clears the timestamp so an operator sees no
    /// seat held. The registration stays pending: a late payment is still confirmed (or refunded
    /// when no seat is left), and the member may order again. The status and expiry are checked
    /// again on the row itself, so a hold renewed meanwhile is kept.
    /// </summary>
    private const string ReleaseExpiredHolds = """
        update event_registrations set hold_expires_at = null, updated_at = @Now
         where status = 'pending' and hold_expires_at <= @Now
           and id in (select id from event_registrations
                       where status = 'pending' and hold_expires_at <= @Now
                       order by hold_expires_at limit @Limit)
        """;

    public string Name => "orders";

    public bool CallsRazorpay => true;

    public async Task RunAsync(StepTally tally, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var now = clock.GetUtcNow().UtcDateTime;
        var orders = await database.RunAsync("reconcile_orders_find", async connection =>
            (await connection.QueryAsync<(Guid Id, string OrderId)>(FindPendingOrders, new
            {
                CheckBefore = now.AddMinutes(-settings.OrderCheckAfterMinutes),
                HorizonAfter = now.AddHours(-settings.OrderHorizonHours),
                Limit = settings.BatchSize,
            })).ToList(), cancellationToken);

        var streak = new FailureStreak(settings.MaxConsecutiveFailures);
        for (var i = 0; i < orders.Count; i++)
        {
            var (registrationId, orderId) = orders[i];
            using var orderScope = logger.BeginPaymentScope(registrationId: registrationId, orderId: orderId);
            var stop = false;
            try
            {
                var payments = await razorpay.GetOrderPaymentsAsync(orderId, cancellationToken);
                streak.Succeeded();
                foreach (var payment in payments.Items)
                {
                    tally.Add(await ApplyAsync(orderId, payment, cancellationToken));
                }

                tally.Add("checked");
            }
            catch (RazorpayException e) when (e.Status == HttpStatusCode.TooManyRequests)
            {
                // The pipeline has already backed off and retried; more calls now only prolong the limit.
                tally.Error();
                tally.Add("deferred", orders.Count - i);
                logger.LogWarning("Razorpay rate-limited the order check at {OrderId}; the remaining orders wait for the next run", orderId);
                break;
            }
            catch (Exception e) when (e is RazorpayException or DependencyUnavailableException && !cancellationToken.IsCancellationRequested)
            {
                tally.Error();
                logger.LogWarning(e, "Order {OrderId} of {RegistrationId} not reconciled; the next run tries again", orderId, registrationId);
                stop = e is RazorpayException { Transient: true } or DependencyUnavailableException && streak.Failed();
            }

            // Checked or failed, the order goes to the back of the line.
            await database.RunAsync("reconcile_orders_mark", connection =>
                connection.ExecuteAsync(MarkChecked, new { Id = registrationId, Now = clock.GetUtcNow().UtcDateTime }), cancellationToken);
            if (stop)
            {
                tally.Add("deferred", orders.Count - i - 1);
                logger.LogWarning("Razorpay failed {Failures} order checks in a row; the remaining {Deferred} orders wait for the next run",
                    settings.MaxConsecutiveFailures, orders.Count - i - 1);
                break;
            }
        }

        var released = await database.RunAsync("reconcile_release_holds", connection =>
            connection.ExecuteAsync(ReleaseExpiredHolds, new { Now = clock.GetUtcNow().UtcDateTime, Limit = settings.BatchSize }), cancellationToken);
        tally.Add("holds_released", released);
    }

    private async Task<string> ApplyAsync(string orderId, RazorpayPayment payment, CancellationToken cancellationToken)
    {
        using var paymentScope = logger.BeginPaymentScope(paymentId: payment.Id);
        if (!RazorpayIds.IsPaymentId(payment.Id) || (payment.OrderId is not null && payment.OrderId != orderId))
        {
            logger.LogWarning("Razorpay listed a payment for order {OrderId} that does not belong to it; ignored", orderId);
            return "ignored";
        }

        switch (payment.Status)
        {
            case "captured":
                var result = await confirmation.ConfirmAsync(
                    new PaymentReport(orderId, payment.Id, payment.Amount, payment.Currency, ConfirmationSource.Reconciliation), cancellationToken);
                return result.Outcome == ConfirmationOutcome.Paid ? "confirmed" : ConfirmationOutcomes.Name(result.Outcome);
            case "failed":
                var recorded = await ledger.RecordFailedAttemptAsync(payment with { OrderId = orderId }, Source, cancellationToken);
                return recorded == "failed_attempt_recorded" ? "failed_attempts" : "failed_attempt_known";
            case "authorized":
                // Auto-capture follows; a later run (or the webhook) confirms the capture.
                return "authorized";
            default:
                logger.LogWarning("Payment {PaymentId} of order {OrderId} is {PaymentStatus}; left for an operator", payment.Id, orderId, payment.Status);
                return "other_status";
        }
    }
}
