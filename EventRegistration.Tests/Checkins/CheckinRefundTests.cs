using EventRegistration.Tests.Admin;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;

namespace EventRegistration.Tests.Checkins;

/// <summary>
/// A ticket whose money is on its way back does not admit: an operator's refund or an event's
/// cancellation leaves the registration <c>paid</c> until Razorpay reports the refund processed,
/// and the door must not wait for that. An admission made before the refund stays recorded.
/// </summary>
public sealed class CheckinRefundTests(TestApp app) : IClassFixture<TestApp>
{
    private const string Problem = "urn:eventregistration:problem:";

    private Task<string> PaymentOf(Guid registrationId) =>
        app.ScalarAsync<string>("select payment_id from event_registrations where id = @registrationId", new { registrationId });

    private Task<long> AdmissionsOf(Guid registrationId) =>
        app.ScalarAsync<long>("select count(*) from checkins where registration_id = @registrationId", new { registrationId });

    [Fact]
    public async Task An_operator_refund_owed_then_requested_then_processed_refuses_the_ticket_at_each_step()
    {
        var eventId = await app.CreateEventAsync();
        var registrationId = await app.PaidRegistrationAsync(eventId, "Nandini Rao");
        var paymentId = await PaymentOf(registrationId);
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var token = app.TokenFor(registrationId, eventId);

        Assert.Equal(202, (await app.RefundRegistrationAsync(registrationId)).Status);
        var owed = await app.ScanAsync(key, token);

        Assert.Equal((409, Problem + "ticket-refund-due"), (owed.Status, owed.ProblemType));
        Assert.Equal("Nandini Rao", owed.Json.GetProperty("memberName").GetString());
        Assert.Equal("refund_due", owed.Json.GetProperty("reason").GetString());
        Assert.Equal("paid", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));

        app.Razorpay.AcceptEveryRefund();
        await ReconciliationHarness.ReconcileAsync(app);
        Assert.Equal("requested", await app.ScalarAsync<string>("select refund_status from payments where payment_id = @paymentId", new { paymentId }));
        Assert.Equal(Problem + "ticket-refund-due", (await app.ScanAsync(key, token)).ProblemType);

        Assert.Equal(200, (await app.RefundProcessedAsync(paymentId)).Status);
        Assert.Equal(Problem + "ticket-refunded", (await app.ScanAsync(key, token)).ProblemType);

        Assert.Equal(0, await AdmissionsOf(registrationId));
        Assert.Equal(3, await app.ScalarAsync<long>(
            "select count(*) from checkin_scans where registration_id = @registrationId and status_code = 409", new { registrationId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_refund_failed_at_razorpay_still_refuses_because_the_money_is_still_owed_back()
    {
        var eventId = await app.CreateEventAsync();
        var registrationId = await app.PaidRegistrationAsync(eventId);
        var paymentId = await PaymentOf(registrationId);
        var (_, key) = await app.ScannerKeyAsync(eventId);
        Assert.Equal(202, (await app.RefundRegistrationAsync(registrationId)).Status);
        app.Razorpay.AcceptEveryRefund();
        await ReconciliationHarness.ReconcileAsync(app);
        Assert.Equal(200, (await app.WebhookAsync(Webhook.Refund("refund.failed", AdminOperatorCalls.RefundIdOf(paymentId), paymentId, 50_000, status: "failed"))).Status);
        Assert.Equal("failed", await app.ScalarAsync<string>("select refund_status from payments where payment_id = @paymentId", new { paymentId }));

        var answer = await app.ScanAsync(key, app.TokenFor(registrationId, eventId));

        Assert.Equal((409, Problem + "ticket-refund-due"), (answer.Status, answer.ProblemType));
        Assert.Equal(0, await AdmissionsOf(registrationId));
    }

    [Fact]
    public async Task A_ticket_admitted_before_the_refund_stays_admitted_and_a_later_scan_is_refused()
    {
        var eventId = await app.CreateEventAsync();
        var registrationId = await app.PaidRegistrationAsync(eventId, "Came Early");
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var token = app.TokenFor(registrationId, eventId);
        Assert.Equal(200, (await app.ScanAsync(key, token, scannerId: "north")).Status);

        Assert.Equal(202, (await app.RefundRegistrationAsync(registrationId)).Status);
        var again = await app.ScanAsync(key, token, scannerId: "south");

        Assert.Equal((409, Problem + "ticket-refund-due"), (again.Status, again.ProblemType));
        Assert.Equal(1, await AdmissionsOf(registrationId));
        Assert.Equal("north", await app.ScalarAsync<string>("select scanner_id from checkins where registration_id = @registrationId", new { registrationId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task An_event_cancelled_through_the_route_refuses_its_tickets_online_in_a_batch_and_in_the_kit()
    {
        var eventId = await app.CreateEventAsync();
        var online = await app.PaidRegistrationAsync(eventId, "Online Scan");
        var offline = await app.PaidRegistrationAsync(eventId, "Offline Scan");
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var kitBefore = (await app.OfflineKitAsync(eventId.ToString(), CheckinCalls.WithScannerKey(key))).Json;
        Assert.Equal(2, kitBefore.GetProperty("valid").GetArrayLength());
        app.Clock.Advance(TimeSpan.FromMinutes(10));

        Assert.Equal(200, (await app.CancelEventAsync(eventId)).Status);

        var scan = await app.ScanAsync(key, app.TokenFor(online, eventId));
        Assert.Equal((409, Problem + "ticket-event-cancelled"), (scan.Status, scan.ProblemType));
        var batch = await app.BatchAsync(key, OfflineCalls.OfflineScan(app.TokenFor(offline, eventId), "door-2", app.Clock.GetUtcNow().AddMinutes(-1)));
        var result = Assert.Single(batch.Json.GetProperty("results").EnumerateArray());
        Assert.Equal(("refused", Problem + "ticket-event-cancelled"), (result.GetProperty("outcome").GetString(), result.GetProperty("type").GetString()));

        // Nothing in the kit admits any more, whole or as changes since the kit the phone already holds.
        foreach (var query in new[] { "", $"?since={kitBefore.GetProperty("version").GetInt64()}" })
        {
            var kit = (await app.OfflineKitAsync(eventId.ToString(), CheckinCalls.WithScannerKey(key), query)).Json;
            Assert.Equal("cancelled", kit.GetProperty("eventStatus").GetString());
            Assert.Empty(kit.GetProperty("valid").EnumerateArray());
            var revoked = kit.GetProperty("revoked").EnumerateArray().ToDictionary(t => t.GetProperty("registrationId").GetGuid(), t => t.GetProperty("reason").GetString());
            Assert.Equal(new Dictionary<Guid, string?> { [online] = "event_cancelled", [offline] = "event_cancelled" }, revoked);
        }

        Assert.Equal(0, await AdmissionsOf(online) + await AdmissionsOf(offline));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_cancellation_whose_refunds_are_not_yet_owed_revokes_every_ticket_in_the_kits_changes_and_no_other_events()
    {
        var eventId = await app.CreateEventAsync();
        var first = await app.PaidRegistrationAsync(eventId, "First Buyer");
        var second = await app.PaidRegistrationAsync(eventId, "Second Buyer");
        var otherEvent = await app.CreateEventAsync();
        var elsewhere = await app.PaidRegistrationAsync(otherEvent, "Elsewhere");
        var (_, key) = await app.ScannerKeyAsync(eventId);
        app.Clock.Advance(TimeSpan.FromMinutes(10)); // the purchases fall before the version's overlap
        var version = (await app.OfflineKitAsync(eventId.ToString(), CheckinCalls.WithScannerKey(key))).Json.GetProperty("version").GetInt64();
        app.Clock.Advance(TimeSpan.FromMinutes(10));

        // The cancellation's first transaction alone: CancelEventHandler leaves the refunds it could not
        // make due to the reconciliation, so neither registration nor payment has changed yet; the
        // event's cancellation is the only change, and it must still reach the phone. Another event's
        // refund in the same minutes must not.
        await app.ExecuteAsync("update events set status = 'cancelled', cancelled_at = @now, cancel_reason = 'Storm' where id = @eventId",
            new { eventId, now = app.Clock.GetUtcNow().UtcDateTime });
        Assert.Equal(202, (await app.RefundRegistrationAsync(elsewhere)).Status);
        app.Clock.Advance(TimeSpan.FromMinutes(10));

        var changes = (await app.OfflineKitAsync(eventId.ToString(), CheckinCalls.WithScannerKey(key), $"?since={version}")).Json;
        Assert.False(changes.GetProperty("full").GetBoolean());
        Assert.Empty(changes.GetProperty("valid").EnumerateArray());
        var revoked = changes.GetProperty("revoked").EnumerateArray().ToDictionary(t => t.GetProperty("registrationId").GetGuid(), t => t.GetProperty("reason").GetString());
        Assert.Equal(new Dictionary<Guid, string?> { [first] = "event_cancelled", [second] = "event_cancelled" }, revoked);

        // Nothing has changed since that version (its overlap starts after the cancellation): an empty delta.
        var next = changes.GetProperty("version").GetInt64();
        var quiet = (await app.OfflineKitAsync(eventId.ToString(), CheckinCalls.WithScannerKey(key), $"?since={next}")).Json;
        Assert.Empty(quiet.GetProperty("valid").EnumerateArray());
        Assert.Empty(quiet.GetProperty("revoked").EnumerateArray());
    }

    [Fact]
    public async Task A_refund_made_due_reaches_the_kits_changes_though_its_registration_did_not_change()
    {
        var eventId = await app.CreateEventAsync();
        var refunding = await app.PaidRegistrationAsync(eventId, "Money Back");
        await app.PaidRegistrationAsync(eventId, "Staying");
        var (_, key) = await app.ScannerKeyAsync(eventId);
        app.Clock.Advance(TimeSpan.FromMinutes(10)); // the purchases fall before the version's overlap
        var version = (await app.OfflineKitAsync(eventId.ToString(), CheckinCalls.WithScannerKey(key))).Json.GetProperty("version").GetInt64();
        app.Clock.Advance(TimeSpan.FromMinutes(10));

        // An operator's refund owes the money on the payment; the registration stays paid, untouched.
        Assert.Equal(202, (await app.RefundRegistrationAsync(refunding)).Status);
        Assert.Equal("paid", await app.ScalarAsync<string>("select status from event_registrations where id = @refunding", new { refunding }));

        var changes = (await app.OfflineKitAsync(eventId.ToString(), CheckinCalls.WithScannerKey(key), $"?since={version}")).Json;
        Assert.Empty(changes.GetProperty("valid").EnumerateArray());
        var revoked = Assert.Single(changes.GetProperty("revoked").EnumerateArray());
        Assert.Equal((refunding, "refund_due"), (revoked.GetProperty("registrationId").GetGuid(), revoked.GetProperty("reason").GetString()));
    }

    [Fact]
    public async Task An_operator_refund_moves_the_ticket_from_valid_to_revoked_in_the_kit_and_its_changes_and_a_batch_refuses_it()
    {
        var eventId = await app.CreateEventAsync();
        var refunding = await app.PaidRegistrationAsync(eventId, "Money Back");
        var staying = await app.PaidRegistrationAsync(eventId, "Staying");
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var version = (await app.OfflineKitAsync(eventId.ToString(), CheckinCalls.WithScannerKey(key))).Json.GetProperty("version").GetInt64();
        app.Clock.Advance(TimeSpan.FromMinutes(10));

        Assert.Equal(202, (await app.RefundRegistrationAsync(refunding)).Status);

        foreach (var query in new[] { "", $"?since={version}" })
        {
            var kit = (await app.OfflineKitAsync(eventId.ToString(), CheckinCalls.WithScannerKey(key), query)).Json;
            Assert.DoesNotContain(refunding, kit.GetProperty("valid").EnumerateArray().Select(t => t.GetProperty("registrationId").GetGuid()));
            var revoked = Assert.Single(kit.GetProperty("revoked").EnumerateArray());
            Assert.Equal((refunding, "refund_due", "Money Back"), (revoked.GetProperty("registrationId").GetGuid(),
                revoked.GetProperty("reason").GetString(), revoked.GetProperty("memberName").GetString()));
        }

        var batch = await app.BatchAsync(key,
            OfflineCalls.OfflineScan(app.TokenFor(refunding, eventId), "door-2", app.Clock.GetUtcNow().AddMinutes(-2)),
            OfflineCalls.OfflineScan(app.TokenFor(staying, eventId), "door-2", app.Clock.GetUtcNow().AddMinutes(-1)));
        var results = batch.Json.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(("refused", Problem + "ticket-refund-due", "Money Back"),
            (results[0].GetProperty("outcome").GetString(), results[0].GetProperty("type").GetString(), results[0].GetProperty("memberName").GetString()));
        Assert.Equal("admitted", results[1].GetProperty("outcome").GetString());
        Assert.Equal(0, await AdmissionsOf(refunding));
        Assert.Equal(1, await AdmissionsOf(staying));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Scans_racing_operator_refunds_either_admit_before_the_refund_or_are_refused_never_both_lost()
    {
        var eventId = await app.CreateEventAsync(capacity: null);
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var tickets = new List<Guid>();
        for (var i = 0; i < 12; i++)
        {
            tickets.Add(await app.PaidRegistrationAsync(eventId, "Racer " + i));
        }

        using var start = new ManualResetEventSlim();
        var work = tickets.SelectMany(id => new[]
        {
            Task.Run(async () => { start.Wait(); return (id, Scan: (HttpAnswer?)await app.ScanAsync(key, app.TokenFor(id, eventId))); }),
            Task.Run(async () => { start.Wait(); Assert.Equal(202, (await app.RefundRegistrationAsync(id)).Status); return (id, Scan: (HttpAnswer?)null); }),
        }).ToList();
        start.Set();
        var scans = (await Task.WhenAll(work)).Where(w => w.Scan is not null).ToDictionary(w => w.id, w => w.Scan!);

        foreach (var id in tickets)
        {
            // Every refund is owed, whatever the door did; an admission exists exactly when the door said so.
            Assert.Equal("due", await app.ScalarAsync<string>(
                "select p.refund_status from payments p join event_registrations r on r.payment_id = p.payment_id where r.id = @id", new { id }));
            var answer = scans[id];
            Assert.True(answer.Status == 200 || answer.ProblemType == Problem + "ticket-refund-due", answer.ToString());
            Assert.Equal(answer.Status == 200 ? 1 : 0, await AdmissionsOf(id));
            Assert.Equal(409, (await app.ScanAsync(key, app.TokenFor(id, eventId))).Status);
        }

        await app.AssertAllAsync();
    }
}
