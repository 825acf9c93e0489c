using System.Collections.Concurrent;
using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Http;

namespace EventRegistration.Functions.Confirmation;

/// <summary>
/// What keeps a replayed checkout callback cheap. The callback is anonymous and a member's
/// valid (order, payment, signature) triple can be sent again without limit, so:
/// <list type="bullet">
/// <item>a payment already settled on its registration is answered from one plain read: no
/// transaction slot, no advisory lock, no event row lock (<see cref="FindSettledAsync"/>);</item>
/// <item>identical callbacks arriving together share one answer: at most one database
/// operation per (order, payment) runs in this instance at a time, whatever the number of
/// callers (<see cref="JoinOrRunAsync"/>). A browser's double submit still gets the same 200
/// (invariant 7); a flood of one triple costs one connection, not one per request.</item>
/// </list>
/// </summary>
public sealed class CheckoutReplays(Database database)
{
    /// <summary>
    /// Callers waiting on one flight at once before further ones are refused with 429. Far above what a
    /// browser sends (a double click, a retry); it only bounds what the waiters of one triple hold
    /// (their requests) on the host.
    /// </summary>
    public const int MaxCallersPerFlight = 256;

    /// <summary>
    /// The registration that already holds this payment and is past pending. A plain MVCC read:
    /// it waits for no lock, so a confirmation holding the event row does not hold it up.
    /// </summary>
    internal const string SettledByPayment = $"""
        select {RegistrationRow.Columns}
          from event_registrations
         where order_id = @OrderId and payment_id = @PaymentId and status in ('paid', 'refund_due', 'refunded')
        """;

    private readonly ConcurrentDictionary<(string OrderId, string PaymentId), Flight> _flights = new();

    /// <summary>
    /// The outcome the confirmation transaction reaches for a registration that already holds
    /// this payment (its first test, before any other), so the answer is the same bytes.
    /// Null when the payment is not settled on the order's registration: the transaction decides.
    /// </summary>
    public async Task<ConfirmationResult?> FindSettledAsync(string orderId, string paymentId, CancellationToken cancellationToken)
    {
        var registration = await database.RunAsync("confirm_replay_read",
            connection => connection.QuerySingleOrDefaultAsync<RegistrationRow>(
                new CommandDefinition(SettledByPayment, new { OrderId = orderId, PaymentId = paymentId }, cancellationToken: cancellationToken)),
            cancellationToken);
        return registration is null
            ? null
            : new ConfirmationResult(ConfirmationDecision.ReplayOutcome(registration), registration);
    }

    /// <summary>
    /// Runs <paramref name="work"/> for this (order, payment) unless a run is already under way,
    /// in which case the caller waits for that run's answer. The run does not stop when the caller
    /// who started it goes away (others may wait on it; it is bounded by the slot wait and
    /// lock_timeout); each caller stops waiting on its own cancellation.
    /// </summary>
    public async Task<ApiResult> JoinOrRunAsync(string orderId, string paymentId, Func<Task<ApiResult>> work, CancellationToken cancellationToken)
    {
        var key = (orderId, paymentId);
        while (true)
        {
            if (_flights.TryGetValue(key, out var running))
            {
                // Waiting callers, not all who ever joined: the bound is on what is held at once.
                try
                {
                    if (Interlocked.Increment(ref running.Callers) > MaxCallersPerFlight)
                    {
                        return Problems.TooManyRequests(
                            "This payment's confirmation is already being answered for many identical requests; try again shortly.", retryAfterSeconds: 1);
                    }

                    return await running.Answer.Task.WaitAsync(cancellationToken);
                }
                finally
                {
                    Interlocked.Decrement(ref running.Callers);
                }
            }

            var flight = new Flight();
            if (!_flights.TryAdd(key, flight))
            {
                continue;
            }

            _ = FlyAsync(key, flight, work);
            return await flight.Answer.Task.WaitAsync(cancellationToken);
        }
    }

    private async Task FlyAsync((string, string) key, Flight flight, Func<Task<ApiResult>> work)
    {
        // The flight leaves the table before it answers, so a caller arriving later starts a fresh
        // run (a fresh read) rather than taking an answer that is no longer being computed.
        ApiResult answer;
        try
        {
            answer = await work();
        }
        catch (Exception e)
        {
            _flights.TryRemove(new KeyValuePair<(string, string), Flight>(key, flight));
            flight.Answer.SetException(e);
            return;
        }

        _flights.TryRemove(new KeyValuePair<(string, string), Flight>(key, flight));
        flight.Answer.SetResult(answer);
    }

    private sealed class Flight
    {
        public int Callers = 1;
        public readonly TaskCompletionSource<ApiResult> Answer = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
