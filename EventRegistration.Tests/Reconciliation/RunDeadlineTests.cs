using System.Diagnostics;
using EventRegistration.Functions.Reconciliation;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Azure.Functions.Worker;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace EventRegistration.Tests.Reconciliation;

/// <summary>Razorpay calls timing out after two seconds; a run that may last ten.</summary>
public sealed class ShortDeadlineApp : TestApp
{
    public const int DeadlineSeconds = 10;

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Razorpay:TimeoutSeconds"] = "2";
        settings["Reconciliation:RunDeadlineSeconds"] = DeadlineSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Reconciliation:MaxConsecutiveFailures"] = "3";
    }
}

public sealed class RunDeadlineTests(ShortDeadlineApp app) : IClassFixture<ShortDeadlineApp>, IAsyncLifetime
{
    public async Task InitializeAsync()
    {
        app.Razorpay.Reset();
        app.Razorpay.AnswerOrdersNormally();
        // Earlier tests' orders must not be asked about again.
        await app.ExecuteAsync("update event_registrations set status = 'cancelled' where status = 'pending'");
        await app.ExecuteAsync("update payments set refund_status = 'requested', refund_id = 'rfnd_TEarlierTest01', refund_requested_at = now() + interval '1 day' where refund_status = 'due'");
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_slow_Razorpay_is_cut_off_at_the_deadline_after_the_other_steps_ran_and_the_run_row_is_closed()
    {
        var refundPaymentId = await RefundDueAsync();
        await PendingOrdersAsync(12);

        // Slower than the client's timeout: every order check times out (not a 429).
        app.Razorpay.Server.Given(Request.Create().WithPath(new WildcardMatcher("/v1/orders/*/payments")).UsingGet())
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(200).WithDelay(TimeSpan.FromSeconds(15)).WithBody("{}"));
        app.AgeBeyondGrace();

        // The host's functionTimeout, shortened: whatever the run does, the invocation ends here.
        using var functionTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var before = await app.ScalarAsync<long>("select coalesce(max(id), 0) from reconciliation_runs");
        var watch = Stopwatch.StartNew();
        try
        {
            await app.Function<ReconcileFunction>().Reconcile(new TimerInfo(), functionTimeout.Token);
        }
        catch (OperationCanceledException)
        {
            // What the old runner did at the function timeout; the row below says whether it was closed.
        }

        watch.Stop();
        var run = Assert.Single(await app.RunsAfterAsync(before));
        Assert.True(run.Status == "timed_out", run.ToString());
        Assert.NotNull(await app.ScalarAsync<DateTime?>("select finished_at from reconciliation_runs where id = @Id", new { run.Id }) as DateTime?);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(ShortDeadlineApp.DeadlineSeconds + 5), $"the run took {watch.Elapsed}");

        // The steps that need no Razorpay ran before it; the orders step was cut short, refunds never started.
        var summary = System.Text.Json.JsonDocument.Parse(run.Summary).RootElement;
        foreach (var step in new[] { "inbox", "deliveries", "audit" })
        {
            Assert.True(summary.TryGetProperty(step, out _), run.ToString());
            Assert.Equal(0, run.Count(step, "not_run"));
        }

        Assert.Equal(1, run.Count("orders", "cut_short"));
        Assert.Equal(1, run.Count("refunds", "not_run"));
        Assert.Equal("due", await app.ScalarAsync<string>("select refund_status from payments where payment_id = @refundPaymentId", new { refundPaymentId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_step_stops_after_a_few_failures_in_a_row_and_the_next_step_still_runs()
    {
        var refundPaymentId = await RefundDueAsync();
        await PendingOrdersAsync(10);

        app.Razorpay.Server.Given(Request.Create().WithPath(new WildcardMatcher("/v1/orders/*/payments")).UsingGet())
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(503).WithHeader("Content-Type", "application/json")
                .WithBody("""{"error":{"code":"SERVER_ERROR","description":"down on purpose"}}"""));
        app.Razorpay.RefundAccepted(refundPaymentId, "rfnd_TDeadline00001", 50_000);
        app.AgeBeyondGrace();

        var run = await app.ReconcileAsync();

        Assert.True(run.Status == "completed_with_errors", run.ToString());
        Assert.Equal(3, run.Count("orders", "errors"));
        Assert.Equal(7, run.Count("orders", "deferred"));
        Assert.Equal(1, run.Count("refunds", "requested"));
        Assert.Equal("requested", await app.ScalarAsync<string>("select refund_status from payments where payment_id = @refundPaymentId", new { refundPaymentId }));
        await app.AssertAllAsync();
    }

    // Written directly, not through CreateOrder: the short Razorpay timeout is for the run under test.
    private async Task PendingOrdersAsync(int count)
    {
        var eventId = await app.CreateEventAsync(capacity: 100);
        for (var i = 0; i < count; i++)
        {
            await app.ExecuteAsync("""
                insert into event_registrations (id, event_id, member_id, status, order_id, amount_paise, currency, hold_expires_at, created_at, updated_at)
                values (@id, @eventId, @memberId, 'pending', @orderId, 50000, 'INR', @holdUntil, @now, @now)
                """, new
            {
                id = Guid.NewGuid(), eventId, memberId = await app.CreateMemberAsync(),
                orderId = "order_TDeadline" + Guid.NewGuid().ToString("N")[..10],
                holdUntil = app.Clock.GetUtcNow().UtcDateTime.AddMinutes(15), now = app.Clock.GetUtcNow().UtcDateTime,
            });
        }
    }

    /// <summary>A registration paid for a full event, its refund due: what the refunds step requests.</summary>
    private async Task<string> RefundDueAsync()
    {
        var eventId = await app.CreateEventAsync(capacity: 100);
        var registrationId = Guid.NewGuid();
        var paymentId = TestApp.NewPaymentId();
        var orderId = "order_TDeadline" + Guid.NewGuid().ToString("N")[..10];
        await app.ExecuteAsync("""
            insert into event_registrations (id, event_id, member_id, status, order_id, payment_id, amount_paise, currency, paid_at, confirmed_by, refund_reason)
            values (@registrationId, @eventId, @memberId, 'refund_due', @orderId, @paymentId, 50000, 'INR', now(), 'webhook', 'event_full');
            insert into payments (payment_id, order_id, registration_id, amount_paise, currency, status, disposition, source, refund_status)
            values (@paymentId, @orderId, @registrationId, 50000, 'INR', 'captured', 'event_full', 'webhook', 'due');
            """, new { registrationId, eventId, memberId = await app.CreateMemberAsync(), orderId, paymentId });
        return paymentId;
    }
}
