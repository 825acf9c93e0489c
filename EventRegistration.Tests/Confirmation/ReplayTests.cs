using Dapper;
using EventRegistration.Functions.Confirmation;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventRegistration.Tests.Confirmation;

/// <summary>
/// A member's valid checkout triple replayed: answered from a lock-free read with the very bytes
/// the confirmation answered, and identical callers in flight together cost one database
/// operation, not one each.
/// </summary>
public sealed class ReplayTests(ReplayTests.LongLockWaitApp app) : IClassFixture<ReplayTests.LongLockWaitApp>
{
    /// <summary>A lock_timeout long enough that a request stuck behind a held event row is seen waiting, not refused.</summary>
    public sealed class LongLockWaitApp : TestApp
    {
        protected override void Configure(IDictionary<string, string?> settings) =>
            settings["Postgres:LockTimeoutMilliseconds"] = "60000";
    }

    [Fact]
    public async Task Replays_of_a_paid_confirmation_answer_the_first_answer_byte_for_byte()
    {
        var eventId = await app.CreateEventAsync();
        var (_, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paymentId = TestApp.NewPaymentId();

        var first = await app.ConfirmAsync(orderId, paymentId);
        Assert.Equal(200, first.Status);
        for (var i = 0; i < 5; i++)
        {
            var replay = await app.ConfirmAsync(orderId, paymentId);
            Assert.Equal(first.Status, replay.Status);
            Assert.Equal(first.ContentType, replay.ContentType);
            Assert.Equal(first.Body, replay.Body);
        }

        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Replays_of_a_refund_due_confirmation_answer_the_first_answer_byte_for_byte()
    {
        var (orderId, paymentId, first) = await RefundDueAsync();
        Assert.Equal("refund_due", first.Json.GetProperty("status").GetString());

        var replay = await app.ConfirmAsync(orderId, paymentId);
        Assert.Equal(first.Status, replay.Status);
        Assert.Equal(first.Body, replay.Body);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_settled_replay_answers_at_once_while_another_session_holds_the_event_row()
    {
        var eventId = await app.CreateEventAsync();
        var (_, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paymentId = TestApp.NewPaymentId();
        var first = await app.ConfirmAsync(orderId, paymentId);
        Assert.Equal(200, first.Status);

        await using var holder = app.OpenConnection();
        await using var transaction = await holder.BeginTransactionAsync();
        await holder.ExecuteAsync("select 1 from events where id = @eventId for update", new { eventId }, transaction);
        await holder.ExecuteAsync("select pg_advisory_xact_lock(hashtextextended(@paymentId, 0))", new { paymentId }, transaction);

        var replay = app.ConfirmAsync(orderId, paymentId);
        // Generous for a busy machine, and still far below the 60 s the replay would wait for the lock.
        var answeredWhileLocked = await Task.WhenAny(replay, Task.Delay(TimeSpan.FromSeconds(10))) == replay;
        await transaction.CommitAsync();

        Assert.True(answeredWhileLocked, "the replay waited for the event row or the payment's lock");
        Assert.Equal(first.Body, (await replay).Body);
    }

    /// <summary>
    /// The fast path claims to answer what the transaction would; this asks the transaction itself,
    /// for every status the fast path answers, so a change in the decision cannot leave it behind.
    /// </summary>
    [Fact]
    public async Task The_fast_path_answers_what_the_confirmation_transaction_answers_in_every_settled_status()
    {
        var confirmation = app.Services.GetRequiredService<PaymentConfirmation>();
        var cases = new List<(string Status, string OrderId, string PaymentId)>();

        var eventId = await app.CreateEventAsync();
        var (_, paidOrder) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paidPayment = TestApp.NewPaymentId();
        Assert.Equal(200, (await app.ConfirmAsync(paidOrder, paidPayment)).Status);
        cases.Add(("paid", paidOrder, paidPayment));

        var (dueOrder, duePayment, _) = await RefundDueAsync();
        cases.Add(("refund_due", dueOrder, duePayment));

        var (_, refundedOrder) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var refundedPayment = TestApp.NewPaymentId();
        Assert.Equal(200, (await app.ConfirmAsync(refundedOrder, refundedPayment)).Status);
        Assert.Equal(200, (await app.WebhookAsync(Webhook.Refund("refund.processed", "rfnd_" + refundedPayment[4..], refundedPayment, 50_000))).Status);
        cases.Add(("refunded", refundedOrder, refundedPayment));

        foreach (var (status, orderId, paymentId) in cases)
        {
            Assert.Equal(status, await app.ScalarAsync<string>("select status from event_registrations where order_id = @orderId", new { orderId }));
            var fast = await app.ConfirmAsync(orderId, paymentId);

            var viaTransaction = ConfirmCheckoutHandler.ToAnswer(await confirmation.ConfirmAsync(
                new PaymentReport(orderId, paymentId, null, null, ConfirmationSource.Checkout), CancellationToken.None));
            var expected = await TestApp.ExecuteAsync(TestApp.Request(""), viaTransaction);

            Assert.Equal((status, expected.Status, expected.ContentType, expected.Body), (status, fast.Status, fast.ContentType, fast.Body));
        }

        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Identical_confirmations_in_flight_together_cost_one_database_session()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paymentId = TestApp.NewPaymentId();

        await using var holder = app.OpenConnection();
        var transaction = await holder.BeginTransactionAsync();
        await holder.ExecuteAsync("select 1 from events where id = @eventId for update", new { eventId }, transaction);

        var answers = Enumerable.Range(0, 40).Select(_ => Task.Run(() => app.ConfirmAsync(orderId, paymentId))).ToList();
        var waiting = await WaitForLockWaitersAsync(holder, transaction, atLeast: 1);
        await Task.Delay(500);
        waiting = await LockWaitersAsync(holder, transaction);
        await transaction.CommitAsync();

        Assert.Equal(1, waiting);
        var all = await Task.WhenAll(answers);
        Assert.All(all, a => Assert.Equal((200, all[0].Body), (a.Status, a.Body)));
        Assert.Equal(registrationId, all[0].Json.GetProperty("registrationId").GetGuid());
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Callers_beyond_the_bound_of_one_flight_are_told_to_retry_with_429()
    {
        var eventId = await app.CreateEventAsync();
        var (_, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paymentId = TestApp.NewPaymentId();

        await using var holder = app.OpenConnection();
        var transaction = await holder.BeginTransactionAsync();
        await holder.ExecuteAsync("select 1 from events where id = @eventId for update", new { eventId }, transaction);

        var first = Task.Run(() => app.ConfirmAsync(orderId, paymentId));
        await WaitForLockWaitersAsync(holder, transaction, atLeast: 1);
        const int extra = 30;
        var rest = Enumerable.Range(0, CheckoutReplays.MaxCallersPerFlight - 1 + extra).Select(_ => Task.Run(() => app.ConfirmAsync(orderId, paymentId))).ToList();

        // The refused ones answer while the flight is still stuck behind the lock.
        var deadline = DateTime.UtcNow.AddSeconds(40);
        while (rest.Count(t => t.IsCompleted) < extra && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        var refusedEarly = rest.Where(t => t.IsCompleted).Select(t => t.Result).ToList();
        await transaction.CommitAsync();
        var all = await Task.WhenAll(rest.Append(first));

        Assert.Equal(extra, refusedEarly.Count);
        Assert.All(refusedEarly, a =>
        {
            Assert.Equal(429, a.Status);
            Assert.Equal("application/problem+json", a.ContentType);
            Assert.Equal("urn:eventregistration:problem:too-many-requests", a.ProblemType);
            Assert.Equal("1", a.Headers["Retry-After"]);
        });
        Assert.Equal(CheckoutReplays.MaxCallersPerFlight, all.Count(a => a.Status == 200));
        Assert.Equal(extra, all.Count(a => a.Status == 429));
        Assert.Equal("paid", (await app.ConfirmAsync(orderId, paymentId)).Json.GetProperty("status").GetString());
        await app.AssertAllAsync();
    }

    /// <summary>A paid order whose event filled up: the first member's hold lapsed and another member holds the only seat.</summary>
    private async Task<(string OrderId, string PaymentId, HttpAnswer First)> RefundDueAsync()
    {
        var eventId = await app.CreateEventAsync(capacity: 1);
        var (_, lateOrder) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        app.Clock.Advance(TimeSpan.FromMinutes(16));
        await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paymentId = TestApp.NewPaymentId();
        var first = await app.ConfirmAsync(lateOrder, paymentId);
        Assert.Equal(200, first.Status);
        return (lateOrder, paymentId, first);
    }

    private static async Task<int> WaitForLockWaitersAsync(Npgsql.NpgsqlConnection holder, Npgsql.NpgsqlTransaction transaction, int atLeast)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        int waiting;
        while ((waiting = await LockWaitersAsync(holder, transaction)) < atLeast && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        return waiting;
    }

    /// <summary>
    /// The app's sessions in this database that wait for a lock (the held event row, or a payment's
    /// advisory lock behind it). The snapshot is cleared first: within a transaction
    /// pg_stat_activity otherwise answers the same rows every time.
    /// </summary>
    private static async Task<int> LockWaitersAsync(Npgsql.NpgsqlConnection holder, Npgsql.NpgsqlTransaction transaction)
    {
        await holder.ExecuteAsync("select pg_stat_clear_snapshot()", transaction: transaction);
        return await holder.ExecuteScalarAsync<int>("""
            select count(*)::int from pg_stat_activity
             where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'
            """, transaction: transaction);
    }
}
