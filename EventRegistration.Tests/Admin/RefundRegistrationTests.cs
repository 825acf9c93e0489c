using System.Text.Json;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;

namespace EventRegistration.Tests.Admin;

public sealed class RefundRegistrationTests(TestApp app) : IClassFixture<TestApp>
{
    private Task<string> StatusAsync(Guid registrationId) =>
        app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId });

    [Fact]
    public async Task An_operator_refund_goes_through_the_ledger_and_releases_the_seat_only_when_razorpay_reports_it_processed()
    {
        var eventId = await app.CreateEventAsync(capacity: 5);
        var (registrationId, _, paymentId) = await app.PaidRegistrationAsync(eventId);

        var answer = await app.RefundRegistrationAsync(registrationId, "Member asked, cannot attend");

        Assert.Equal(202, answer.Status);
        Assert.Equal(("paid", "due", paymentId), (answer.Json.GetProperty("registrationStatus").GetString(),
            answer.Json.GetProperty("refundStatus").GetString(), answer.Json.GetProperty("paymentId").GetString()));
        var audit = (await app.QueryAsync<(string Actor, string Role, string After)>(
            "select actor, role, after::text from admin_audit where entity_id = @id and action = 'registration.refund'", new { id = registrationId.ToString() })).Single();
        Assert.StartsWith("key:", audit.Actor);
        Assert.Equal("operator", audit.Role);
        Assert.Equal("Member asked, cannot attend", JsonDocument.Parse(audit.After).RootElement.GetProperty("reason").GetString());
        // The seat stays taken while the money is on its way back.
        Assert.Equal("paid", await StatusAsync(registrationId));
        Assert.Equal(1, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        await app.AssertAllAsync();

        app.Razorpay.AcceptEveryRefund();
        await app.ReconcileAsync();
        var request = Assert.Single(app.Razorpay.Requests($"/v1/payments/{paymentId}/refund", "POST")).RequestMessage!;
        Assert.Equal("evreg-refund-" + paymentId, Assert.Single(request.Headers!["X-Refund-Idempotency"]));
        Assert.Equal("paid", await StatusAsync(registrationId));
        var underWay = await app.RefundRegistrationAsync(registrationId, "asked again");
        Assert.Equal((202, "requested"), (underWay.Status, underWay.Json.GetProperty("refundStatus").GetString()));

        Assert.Equal(200, (await app.RefundProcessedAsync(paymentId)).Status);

        Assert.Equal("refunded", await StatusAsync(registrationId));
        Assert.Equal(0, await app.ScalarAsync<int>("select attendee_count from events where id = @eventId", new { eventId }));
        var done = await app.RefundRegistrationAsync(registrationId, "and again");
        Assert.Equal((200, "refunded", "processed"), (done.Status, done.Json.GetProperty("registrationStatus").GetString(),
            done.Json.GetProperty("refundStatus").GetString()));
        Assert.Equal(1, await app.ScalarAsync<long>(
            "select count(*) from admin_audit where entity_id = @id and action = 'registration.refund'", new { id = registrationId.ToString() }));

        var history = (await app.LookupAsync(registrationId)).Json.GetProperty("history").EnumerateArray().ToList();
        var asked = history.Single(h => h.GetProperty("what").GetString() == "refund_asked_by_operator").GetProperty("detail");
        Assert.Equal("Member asked, cannot attend", asked.GetProperty("change").GetProperty("reason").GetString());
        Assert.StartsWith("key:", asked.GetProperty("actor").GetString());
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task The_same_refund_sent_twice_at_once_is_owed_once()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, _, paymentId) = await app.PaidRegistrationAsync(eventId);

        var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => app.RefundRegistrationAsync(registrationId))));

        Assert.All(answers, a => Assert.Equal(202, a.Status));
        Assert.All(answers, a => Assert.Equal("due", a.Json.GetProperty("refundStatus").GetString()));
        Assert.Equal(1, await app.ScalarAsync<long>(
            "select count(*) from admin_audit where entity_id = @id and action = 'registration.refund'", new { id = registrationId.ToString() }));
        app.Razorpay.AcceptEveryRefund();
        await app.ReconcileAsync();
        Assert.Single(app.Razorpay.Requests($"/v1/payments/{paymentId}/refund", "POST"));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_part_refund_from_the_dashboard_is_completed_for_the_rest()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, _, paymentId) = await app.PaidRegistrationAsync(eventId);
        Assert.Equal(200, (await app.WebhookAsync(Webhook.Refund("refund.processed", "rfnd_TOpPart000001", paymentId, 10_000,
            paymentAmount: 50_000, amountRefunded: 10_000))).Status);

        var answer = await app.RefundRegistrationAsync(registrationId);

        Assert.Equal((202, "due"), (answer.Status, answer.Json.GetProperty("refundStatus").GetString()));
        Assert.Equal(10_000, answer.Json.GetProperty("amountRefundedPaise").GetInt64());
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Refunding_what_cannot_be_refunded_is_a_distinct_409_and_writes_nothing()
    {
        var eventId = await app.CreateEventAsync();
        var (pending, _) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var (failedRefund, _, failedPayment) = await app.PaidRegistrationAsync(eventId);
        await app.ExecuteAsync("update payments set refund_status = 'failed' where payment_id = @failedPayment", new { failedPayment });
        var snapshot = await DatabaseSnapshot.TakeAsync(app);

        var neverPaid = await app.RefundRegistrationAsync(pending);
        var refused = await app.RefundRegistrationAsync(failedRefund);

        foreach (var answer in new[] { neverPaid, refused })
        {
            Assert.Equal(409, answer.Status);
            Assert.Equal("application/problem+json", answer.ContentType);
            Assert.Equal("urn:eventregistration:problem:registration-not-refundable", answer.ProblemType);
            Assert.Equal("registrationId", answer.Json.GetProperty("field").GetString());
        }

        Assert.Contains("never paid", neverPaid.Json.GetProperty("detail").GetString());
        Assert.Contains("Dashboard", refused.Json.GetProperty("detail").GetString());
        Assert.Equal(snapshot, await DatabaseSnapshot.TakeAsync(app));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from admin_audit where action = 'registration.refund'" +
            " and entity_id in (@a, @b)", new { a = pending.ToString(), b = failedRefund.ToString() }));
    }

    [Fact]
    public async Task A_registration_already_owed_a_refund_answers_under_way_and_writes_nothing()
    {
        var (_, registrationId, _) = await app.RefundDueAsync();
        var snapshot = await DatabaseSnapshot.TakeAsync(app);

        var answer = await app.RefundRegistrationAsync(registrationId);

        Assert.Equal((202, "refund_due", "due"), (answer.Status, answer.Json.GetProperty("registrationStatus").GetString(),
            answer.Json.GetProperty("refundStatus").GetString()));
        Assert.Equal(snapshot, await DatabaseSnapshot.TakeAsync(app));
    }

    public static TheoryData<string, string> InvalidBodies() => new()
    {
        { "{}", "reason" },
        { """{"reason":""}""", "reason" },
        { """{"reason":"  "}""", "reason" },
        { """{"reason":["why"]}""", "reason" },
        { JsonSerializer.Serialize(new { reason = new string('r', 501) }), "reason" },
    };

    [Theory]
    [MemberData(nameof(InvalidBodies))]
    public async Task Each_invalid_field_is_named_and_nothing_is_written(string body, string field)
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, _, _) = await app.PaidRegistrationAsync(eventId);
        var snapshot = await DatabaseSnapshot.TakeAsync(app);

        var answer = await app.RefundRegistrationAsync(registrationId.ToString(), body);

        Assert.Equal(400, answer.Status);
        Assert.Equal("application/problem+json", answer.ContentType);
        Assert.Equal(field, answer.Json.GetProperty("field").GetString());
        Assert.Equal(snapshot, await DatabaseSnapshot.TakeAsync(app));
    }

    [Fact]
    public async Task Malformed_json_a_bad_route_id_and_an_unknown_registration_are_refused()
    {
        var snapshot = await DatabaseSnapshot.TakeAsync(app);

        Assert.Equal("urn:eventregistration:problem:malformed-json", (await app.RefundRegistrationAsync(Guid.NewGuid().ToString(), "[")).ProblemType);
        var badId = await app.RefundRegistrationAsync("42", AdminOperatorCalls.ReasonBody());
        Assert.Equal((400, "registrationId"), (badId.Status, badId.Json.GetProperty("field").GetString()));
        var unknown = await app.RefundRegistrationAsync(Guid.NewGuid());
        Assert.Equal((404, "urn:eventregistration:problem:registration-not-found"), (unknown.Status, unknown.ProblemType));
        Assert.Equal(snapshot, await DatabaseSnapshot.TakeAsync(app));
    }

    [Fact]
    public async Task Without_a_key_401_and_with_the_organiser_role_403_and_nothing_changes()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, _, _) = await app.PaidRegistrationAsync(eventId);
        var snapshot = await DatabaseSnapshot.TakeAsync(app);

        var anonymous = await app.RefundRegistrationAsync(registrationId.ToString(), AdminOperatorCalls.ReasonBody(), key: null);
        var organiser = await app.RefundRegistrationAsync(registrationId.ToString(), AdminOperatorCalls.ReasonBody(), key: AdminKeys.Organiser);

        Assert.Equal((401, "urn:eventregistration:problem:admin-unauthenticated"), (anonymous.Status, anonymous.ProblemType));
        Assert.Equal((403, "urn:eventregistration:problem:admin-forbidden"), (organiser.Status, organiser.ProblemType));
        Assert.Equal(snapshot, await DatabaseSnapshot.TakeAsync(app));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from admin_audit where entity_id = @id", new { id = registrationId.ToString() }));
    }
}
