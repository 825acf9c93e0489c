using Dapper;
using EventRegistration.Functions.Confirmation;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace EventRegistration.Tests.Confirmation;

/// <summary>
/// One transaction slot, so one runner: while it waits on an event row a test session holds, the
/// confirmations that arrive after it queue, and they run together once the row is let go.
/// A lock timeout long enough for the queue to be filled in front of it.
/// </summary>
public sealed class OneSlotApp : TestApp
{
    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Postgres:MaxConcurrentTransactions"] = "1";
        settings["Postgres:LockTimeoutMilliseconds"] = "30000";
        settings["Postgres:SlotWaitMilliseconds"] = "30000";
    }
}

/// <summary>
/// Confirmations that wait for a transaction slot together commit together (docs/design.md,
/// "Confirmations that wait together commit together"): one transaction, each deciding on what the
/// ones before it wrote, as if each had committed on its own; and a batch that cannot commit
/// costs no confirmation but the one at fault.
/// </summary>
public sealed class GroupCommitTests(OneSlotApp app) : IClassFixture<OneSlotApp>
{
    private PaymentConfirmation Confirmation => app.Services.GetRequiredService<PaymentConfirmation>();

    private static PaymentReport Checkout(string orderId, string paymentId) =>
        new(orderId, paymentId, AmountPaise: null, Currency: null, ConfirmationSource.Checkout);

    /// <summary>
    /// The first report runs alone and waits on <paramref name="heldEvent"/>'s row, held by a test
    /// session; the others are handed in one at a time, each once the one before it is waiting, so
    /// the batch keeps their order; then the row is let go.
    /// </summary>
    private async Task<(Task<ConfirmationResult> First, List<Task<ConfirmationResult>> Together)> RunTogetherAsync(
        Guid heldEvent, PaymentReport first, IReadOnlyList<(PaymentReport Report, CancellationToken Cancel)> together, Func<Task>? whileHeld = null)
    {
        await using var holder = new NpgsqlConnection(app.ConnectionString);
        await holder.OpenAsync();
        await using var hold = await holder.BeginTransactionAsync();
        await holder.ExecuteAsync("select id from events where id = @heldEvent for update", new { heldEvent }, hold);

        var firstTask = Task.Run(() => Confirmation.ConfirmAsync(first, CancellationToken.None));
        await WaitUntilAsync(async () => await app.ScalarAsync<long>(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'") == 1);
        var tasks = new List<Task<ConfirmationResult>>();
        foreach (var (report, cancel) in together)
        {
            tasks.Add(Task.Run(() => Confirmation.ConfirmAsync(report, cancel)));
            var expected = tasks.Count;
            await WaitUntilAsync(() => Task.FromResult(Confirmation.Waiting == expected));
        }

        if (whileHeld is not null)
        {
            await whileHeld();
        }

        await hold.CommitAsync();
        return (firstTask, tasks);
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the confirmations did not line up behind the held row");
            await Task.Delay(10);
        }
    }

    private Task<long> TransactionsThatWroteAsync(IEnumerable<string> paymentIds) =>
        app.ScalarAsync<long>("select count(distinct xmin::text) from payments where payment_id = any(@ids)", new { ids = paymentIds.ToArray() });

    [Fact]
    public async Task Confirmations_waiting_together_commit_in_one_transaction_each_deciding_on_the_ones_before_it()
    {
        // Two seats. A's and B's holds lapse; C and D hold the two seats when the payments come.
        var small = await app.CreateEventAsync(capacity: 2);
        var (a, orderA) = await app.OrderAsync(small, await app.CreateMemberAsync());
        await app.OrderAsync(small, await app.CreateMemberAsync());
        app.Clock.Advance(TimeSpan.FromMinutes(16));
        var (c, orderC) = await app.OrderAsync(small, await app.CreateMemberAsync());
        var (d, orderD) = await app.OrderAsync(small, await app.CreateMemberAsync());
        var open = await app.CreateEventAsync(capacity: null, pricePaise: 50_000);
        var (e1, orderE1) = await app.OrderAsync(open, await app.CreateMemberAsync());
        var (e2, orderE2) = await app.OrderAsync(open, await app.CreateMemberAsync());
        var (f, orderF) = await app.OrderAsync(open, await app.CreateMemberAsync());
        var (payA, payC, payD, payX, payF, payUnknown) =
            (TestApp.NewPaymentId(), TestApp.NewPaymentId(), TestApp.NewPaymentId(), TestApp.NewPaymentId(), TestApp.NewPaymentId(), TestApp.NewPaymentId());
        await app.ClearTicketQueueAsync();
        using var recorded = new RecordedMeasurements(app, "eventregistration.confirmations.per_transaction");

        var (first, together) = await RunTogetherAsync(small, Checkout(orderC, payC),
        [
            // A's hold lapsed: C has paid and D's hold is live, so no seat is left for it.
            (Checkout(orderA, payA), CancellationToken.None),
            // D's hold is live: the second seat.
            (Checkout(orderD, payD), CancellationToken.None),
            // One payment id reported for two orders: the first takes it, the second sees it taken.
            (Checkout(orderE1, payX), CancellationToken.None),
            (Checkout(orderE2, payX), CancellationToken.None),
            // One paisa for a 500-rupee order.
            (new PaymentReport(orderF, payF, 1, "INR", ConfirmationSource.Webhook), CancellationToken.None),
            // C again, after its own transaction committed.
            (Checkout(orderC, payC), CancellationToken.None),
            (Checkout("order_" + Guid.NewGuid().ToString("N")[..14], payUnknown), CancellationToken.None),
        ]);

        Assert.Equal(ConfirmationOutcome.Paid, (await first).Outcome);
        var outcomes = (await Task.WhenAll(together)).Select(r => r.Outcome).ToArray();
        Assert.Equal(
            [ConfirmationOutcome.RefundDue, ConfirmationOutcome.Paid, ConfirmationOutcome.Paid, ConfirmationOutcome.PaymentUsedElsewhere,
             ConfirmationOutcome.AmountMismatch, ConfirmationOutcome.AlreadyPaid, ConfirmationOutcome.UnknownOrder],
            outcomes);

        // One transaction wrote every payment the batch recorded, and it was not C's.
        Assert.Equal(1, await TransactionsThatWroteAsync([payA, payD, payX, payF, payUnknown]));
        Assert.Equal(2, await TransactionsThatWroteAsync([payC, payA]));
        Assert.Equal([1, 7], recorded.Values("eventregistration.confirmations.per_transaction").Order());

        var statuses = (await app.QueryAsync<(Guid Id, string Status)>(
            "select id, status from event_registrations where id = any(@ids)", new { ids = new[] { a, c, d, e1, e2, f } })).ToDictionary(r => r.Id, r => r.Status);
        Assert.Equal("refund_due", statuses[a]);
        Assert.Equal("paid", statuses[c]);
        Assert.Equal("paid", statuses[d]);
        Assert.Equal("paid", statuses[e1]);
        Assert.Equal("pending", statuses[e2]);
        Assert.Equal("refund_due", statuses[f]);
        Assert.Equal(2, await app.ScalarAsync<int>("select attendee_count from events where id = @small", new { small }));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @open", new { open }));
        Assert.Equal(new[] { c, d, e1 }.Order(), (await app.DrainTicketQueueAsync()).Order());
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_confirmation_the_database_refuses_in_a_batch_fails_alone_and_the_others_commit()
    {
        var (eventId, first, firstOrder, orders) = await EventWithOrdersAsync(4);

        await app.ClearTicketQueueAsync();
        // A NUL character: PostgreSQL refuses the text (22021) wherever it appears, here in the batch's first statement.
        var refused = Checkout(orders[2].OrderId + "\0", orders[2].PaymentId);
        using var recorded = new RecordedMeasurements(app, "eventregistration.confirmations.run_again_alone");
        var (firstTask, together) = await RunTogetherAsync(eventId, Checkout(firstOrder, TestApp.NewPaymentId()),
            [.. orders.Select((o, i) => (i == 2 ? refused : Checkout(o.OrderId, o.PaymentId), CancellationToken.None))]);

        Assert.Equal(ConfirmationOutcome.Paid, (await firstTask).Outcome);
        await Assert.ThrowsAsync<DatabaseRefusedException>(() => together[2]);
        foreach (var i in new[] { 0, 1, 3 })
        {
            Assert.Equal(ConfirmationOutcome.Paid, (await together[i]).Outcome);
        }

        Assert.Equal([4], recorded.Values("eventregistration.confirmations.run_again_alone"));
        Assert.Equal("pending", await app.ScalarAsync<string>("select status from event_registrations where id = @id", new { id = orders[2].Id }));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from payments where payment_id = @id", new { id = orders[2].PaymentId }));
        Assert.Equal(4, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(new[] { first, orders[0].Id, orders[1].Id, orders[3].Id }.Order(), (await app.DrainTicketQueueAsync()).Order());
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_batch_whose_session_is_killed_runs_again_whole_and_commits_each_confirmation_once()
    {
        var (eventId, first, firstOrder, orders) = await EventWithOrdersAsync(3);

        await app.ClearTicketQueueAsync();
        using var recorded = new RecordedMeasurements(app, name => name.StartsWith("eventregistration.confirmations.", StringComparison.Ordinal));
        await using var held = await BatchWaitingOnARegistrationAsync(eventId, firstOrder, orders);
        var together = held.Together;

        var killed = await KillTheBatchsSessionAsync(notPid: 0);
        // Run again on a new session, the whole batch waits on the same row.
        await WaitUntilAsync(async () => await BatchWaitingOnTheRegistrationAsync() is var pid && pid != 0 && pid != killed);
        await held.ReleaseAsync();

        Assert.All(await Task.WhenAll(together), r => Assert.Equal(ConfirmationOutcome.Paid, r.Outcome));
        Assert.Equal(1, await TransactionsThatWroteAsync(orders.Select(o => o.PaymentId)));
        Assert.Equal([1, 3], recorded.Values("eventregistration.confirmations.per_transaction").Order());
        Assert.Empty(recorded.Values("eventregistration.confirmations.run_again_alone"));
        Assert.Equal(4, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(3, await app.ScalarAsync<long>("select count(*) from payments where payment_id = any(@ids)", new { ids = orders.Select(o => o.PaymentId).ToArray() }));
        Assert.Equal(new[] { first }.Concat(orders.Select(o => o.Id)).Order(), (await app.DrainTicketQueueAsync()).Order());
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_lock_timeout_in_a_batch_is_its_rows_and_each_confirmation_runs_again_alone()
    {
        await PaymentWriteFaults.InstallAsync(app);
        var (eventId, first, firstOrder, orders) = await EventWithOrdersAsync(3);

        // The middle payment's write waits out lock_timeout once (55P03): some rows are busy, not the
        // database, so the batch is not answered 503 as a whole; each confirmation runs again alone.
        var counter = await PaymentWriteFaults.InjectAsync(app, orders[1].PaymentId, "55P03", attemptsFailing: 1);
        await app.ClearTicketQueueAsync();
        using var recorded = new RecordedMeasurements(app, "eventregistration.confirmations.run_again_alone");
        var (firstTask, together) = await RunTogetherAsync(eventId, Checkout(firstOrder, TestApp.NewPaymentId()),
            [.. orders.Select(o => (Checkout(o.OrderId, o.PaymentId), CancellationToken.None))]);

        Assert.Equal(ConfirmationOutcome.Paid, (await firstTask).Outcome);
        Assert.All(await Task.WhenAll(together), r => Assert.Equal(ConfirmationOutcome.Paid, r.Outcome));
        Assert.Equal(2, await PaymentWriteFaults.AttemptsAsync(app, counter));
        Assert.Equal([3], recorded.Values("eventregistration.confirmations.run_again_alone"));
        Assert.Equal(4, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(new[] { first }.Concat(orders.Select(o => o.Id)).Order(), (await app.DrainTicketQueueAsync()).Order());
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_batch_that_loses_its_connection_on_both_attempts_answers_every_caller_unavailable_at_once()
    {
        var (eventId, first, firstOrder, orders) = await EventWithOrdersAsync(3);

        await app.ClearTicketQueueAsync();
        using var recorded = new RecordedMeasurements(app, name => name.StartsWith("eventregistration.confirmations.", StringComparison.Ordinal));
        await using var held = await BatchWaitingOnARegistrationAsync(eventId, firstOrder, orders);
        var together = held.Together;

        // The database drops the batch's connection on its first attempt and on its rerun: an outage,
        // as far as the app can tell. Alone, each confirmation would try twice more.
        await KillTheBatchsSessionAsync(notPid: await KillTheBatchsSessionAsync(notPid: 0));

        foreach (var confirmation in together)
        {
            var unavailable = await Assert.ThrowsAsync<DependencyUnavailableException>(() => confirmation);
            Assert.False(unavailable.RowsBusy);
        }

        // Nothing of the batch was written, and none of it ran alone behind the callers' backs.
        await held.ReleaseAsync();
        Assert.Empty(recorded.Values("eventregistration.confirmations.run_again_alone"));
        Assert.Equal([1], recorded.Values("eventregistration.confirmations.per_transaction"));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from payments where payment_id = any(@ids)", new { ids = orders.Select(o => o.PaymentId).ToArray() }));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(new[] { first }, await app.DrainTicketQueueAsync());

        // The callers' retries, once the database is back, confirm each payment once.
        foreach (var (_, orderId, paymentId) in orders)
        {
            Assert.Equal(ConfirmationOutcome.Paid, (await Confirmation.ConfirmAsync(Checkout(orderId, paymentId), CancellationToken.None)).Outcome);
        }

        Assert.Equal(4, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(orders.Select(o => o.Id).Order(), (await app.DrainTicketQueueAsync()).Order());
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_batch_takes_its_payments_locks_in_id_order_so_a_sweep_taking_them_in_that_order_never_waits_in_a_circle()
    {
        var (eventId, first, firstOrder, orders) = await EventWithOrdersAsync(2);
        // Two payment ids in the database's own order; the batch gets them the other way round.
        var ids = await app.ScalarAsync<string[]>("select array_agg(id order by id) from unnest(@ids::text[]) as id",
            new { ids = new[] { TestApp.NewPaymentId(), TestApp.NewPaymentId() } });
        var (low, high) = (ids[0], ids[1]);
        orders = [(orders[0].Id, orders[0].OrderId, high), (orders[1].Id, orders[1].OrderId, low)];
        await app.ClearTicketQueueAsync();

        // A session that takes payments' locks as the refund sweep of a cancelled event does, in id
        // order, holds the lower one.
        await using var sweeper = new NpgsqlConnection(app.ConnectionString);
        await sweeper.OpenAsync();
        await using var sweep = await sweeper.BeginTransactionAsync();
        await sweeper.ExecuteAsync("select pg_advisory_xact_lock(hashtextextended(@low, 0))", new { low }, sweep);
        using var recorded = new RecordedMeasurements(app, "eventregistration.transaction.rollbacks");
        var (firstTask, together) = await RunTogetherAsync(eventId, Checkout(firstOrder, TestApp.NewPaymentId()),
            [.. orders.Select(o => (Checkout(o.OrderId, o.PaymentId), CancellationToken.None))]);
        Assert.Equal(ConfirmationOutcome.Paid, (await firstTask).Outcome);

        // The batch waits for the lower lock holding no other; the sweep then takes the higher at once.
        // (Holding the higher while it waited, it would close a circle, and one of the two would be
        // aborted for a deadlock.)
        await WaitUntilAsync(async () => await app.ScalarAsync<long>(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event = 'advisory'") == 1);
        await sweeper.ExecuteAsync("select pg_advisory_xact_lock(hashtextextended(@high, 0))", new { high }, sweep);
        await sweep.CommitAsync();

        Assert.All(await Task.WhenAll(together), r => Assert.Equal(ConfirmationOutcome.Paid, r.Outcome));
        Assert.DoesNotContain(recorded.All, m => m.Tag("reason") == "deadlock");
        Assert.Equal(3, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        Assert.Equal(new[] { first }.Concat(orders.Select(o => o.Id)).Order(), (await app.DrainTicketQueueAsync()).Order());
        await app.AssertAllAsync();
    }

    /// <summary>An event with no capacity limit, the order that will run alone first, and <paramref name="count"/> orders to line up behind it.</summary>
    private async Task<(Guid EventId, Guid First, string FirstOrder, List<(Guid Id, string OrderId, string PaymentId)> Orders)> EventWithOrdersAsync(int count)
    {
        var eventId = await app.CreateEventAsync(capacity: null);
        var (first, firstOrder) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var orders = new List<(Guid Id, string OrderId, string PaymentId)>();
        for (var i = 0; i < count; i++)
        {
            var (id, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
            orders.Add((id, orderId, TestApp.NewPaymentId()));
        }

        return (eventId, first, firstOrder, orders);
    }

    /// <summary>
    /// Lines <paramref name="orders"/> up in one batch behind the first order, and meanwhile holds
    /// the second order's registration row on a session of the test's own, so the batch, once the
    /// event's row is let go, waits in its statement that locks the registrations until
    /// <see cref="HeldRegistration.ReleaseAsync"/>.
    /// </summary>
    private async Task<HeldRegistration> BatchWaitingOnARegistrationAsync(
        Guid eventId, string firstOrder, List<(Guid Id, string OrderId, string PaymentId)> orders)
    {
        var holder = new NpgsqlConnection(app.ConnectionString);
        await holder.OpenAsync();
        var hold = await holder.BeginTransactionAsync();
        try
        {
            var (firstTask, together) = await RunTogetherAsync(eventId, Checkout(firstOrder, TestApp.NewPaymentId()),
                [.. orders.Select(o => (Checkout(o.OrderId, o.PaymentId), CancellationToken.None))],
                whileHeld: () => holder.ExecuteAsync(
                    "select id from event_registrations where id = @id for update", new { orders[1].Id }, hold));
            Assert.Equal(ConfirmationOutcome.Paid, (await firstTask).Outcome);
            return new HeldRegistration(holder, hold, together);
        }
        catch
        {
            await hold.DisposeAsync();
            await holder.DisposeAsync();
            throw;
        }
    }

    /// <summary>A registration row held by a test session, and the batch waiting on it.</summary>
    private sealed class HeldRegistration(NpgsqlConnection holder, NpgsqlTransaction hold, List<Task<ConfirmationResult>> together) : IAsyncDisposable
    {
        public List<Task<ConfirmationResult>> Together => together;

        public Task ReleaseAsync() => hold.CommitAsync();

        public async ValueTask DisposeAsync()
        {
            await hold.DisposeAsync();
            await holder.DisposeAsync();
        }
    }

    /// <summary>Waits for the batch's session (other than <paramref name="notPid"/>) to wait on the held registration, and kills it.</summary>
    private async Task<int> KillTheBatchsSessionAsync(int notPid)
    {
        var pid = 0;
        await WaitUntilAsync(async () => (pid = await BatchWaitingOnTheRegistrationAsync()) is not 0 && pid != notPid);
        await app.ExecuteAsync("select pg_terminate_backend(@pid)", new { pid });
        return pid;
    }

    /// <summary>The session of a batch waiting in its statement that locks the registrations, or 0.</summary>
    private Task<int> BatchWaitingOnTheRegistrationAsync() => app.ScalarAsync<int>("""
        select coalesce((select pid from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and query like '%order by r.id for update of r%' limit 1), 0)
        """);

    [Fact]
    public async Task A_caller_that_leaves_before_its_confirmation_is_taken_changes_nothing()
    {
        var eventId = await app.CreateEventAsync(capacity: null);
        var (_, firstOrder) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var (stays, staysOrder) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var (leaves, leavesOrder) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var leavesPayment = TestApp.NewPaymentId();
        using var leaving = new CancellationTokenSource();

        // The caller leaves while the row is still held and both are queued.
        var (firstTask, together) = await RunTogetherAsync(eventId, Checkout(firstOrder, TestApp.NewPaymentId()),
            [(Checkout(staysOrder, TestApp.NewPaymentId()), CancellationToken.None), (Checkout(leavesOrder, leavesPayment), leaving.Token)],
            whileHeld: () => leaving.CancelAsync());

        Assert.Equal(ConfirmationOutcome.Paid, (await firstTask).Outcome);
        Assert.Equal(ConfirmationOutcome.Paid, (await together[0]).Outcome);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => together[1]);
        Assert.Equal("paid", await app.ScalarAsync<string>("select status from event_registrations where id = @stays", new { stays }));
        Assert.Equal("pending", await app.ScalarAsync<string>("select status from event_registrations where id = @leaves", new { leaves }));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from payments where payment_id = @leavesPayment", new { leavesPayment }));
        await app.AssertAllAsync();
    }
}
