using System.Security.Cryptography;
using System.Text.Json;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Admin;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Checkins;

/// <summary>POST /api/checkins: every answer the door can get.</summary>
public sealed class CheckinTests(TestApp app) : IClassFixture<TestApp>
{
    private const string Problem = "urn:eventregistration:problem:";

    [Fact]
    public async Task The_first_scan_admits_with_the_name_and_the_event_and_a_later_one_says_when_and_by_which_scanner()
    {
        var eventId = await app.CreateEventAsync();
        var registrationId = await app.PaidRegistrationAsync(eventId, "Meera Iyer");
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var token = app.TokenFor(registrationId, eventId);

        var first = await app.ScanAsync(key, token, scannerId: "north-1");
        Assert.Equal(200, first.Status);
        Assert.Equal("admitted", first.Json.GetProperty("result").GetString());
        Assert.Equal("Meera Iyer", first.Json.GetProperty("memberName").GetString());
        Assert.Equal("Test event", first.Json.GetProperty("eventTitle").GetString());
        Assert.Equal(eventId, first.Json.GetProperty("eventId").GetGuid());
        Assert.Equal("no-store", first.Headers["Cache-Control"]);

        app.Clock.Advance(TimeSpan.FromMinutes(3));
        var second = await app.ScanAsync(key, token, scannerId: "south-2");
        Assert.Equal((409, Problem + "already-admitted"), (second.Status, second.ProblemType));
        Assert.Equal("application/problem+json", second.ContentType);
        Assert.Equal("north-1", second.Json.GetProperty("admittedBy").GetString());
        Assert.Equal(first.Json.GetProperty("admittedAt").GetDateTime(), second.Json.GetProperty("admittedAt").GetDateTime());
        Assert.Equal("Meera Iyer", second.Json.GetProperty("memberName").GetString());

        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from checkins where registration_id = @registrationId", new { registrationId }));
        Assert.Equal(2, await app.ScalarAsync<long>("select count(*) from checkin_scans where registration_id = @registrationId", new { registrationId }));
    }

    [Fact]
    public async Task The_same_nonce_again_gets_the_first_answer_byte_for_byte_and_changes_nothing()
    {
        var eventId = await app.CreateEventAsync();
        var registrationId = await app.PaidRegistrationAsync(eventId);
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var token = app.TokenFor(registrationId, eventId);
        var nonce = Guid.NewGuid();

        var first = await app.ScanAsync(key, token, nonce);
        var second = await app.ScanAsync(key, token);   // another scan: already admitted
        app.Clock.Advance(TimeSpan.FromMinutes(1));
        var retriedFirst = await app.ScanAsync(key, token, nonce);

        Assert.Equal(200, first.Status);
        Assert.Equal(409, second.Status);
        Assert.Equal((first.Status, first.ContentType, first.Body), (retriedFirst.Status, retriedFirst.ContentType, retriedFirst.Body));
        Assert.Equal(2, await app.ScalarAsync<long>("select count(*) from checkin_scans where registration_id = @registrationId", new { registrationId }));

        // A refusal is kept too: the same nonce gets the same refusal, even after the ticket's state changed.
        var refundedId = await app.PaidRegistrationAsync(eventId, "Ravi");
        await app.RefundThroughLedgerAsync(refundedId);
        var refusedNonce = Guid.NewGuid();
        var refused = await app.ScanAsync(key, app.TokenFor(refundedId, eventId), refusedNonce);
        Assert.Equal(Problem + "ticket-refunded", refused.ProblemType);
        Assert.Equal(refused.Body, (await app.ScanAsync(key, app.TokenFor(refundedId, eventId), refusedNonce)).Body);

        // The nonce with another ticket is a scanner's bug, refused, and the stored answer is not leaked.
        var other = await app.PaidRegistrationAsync(eventId, "Other");
        var reused = await app.ScanAsync(key, app.TokenFor(other, eventId), nonce);
        Assert.Equal((409, Problem + "nonce-reused"), (reused.Status, reused.ProblemType));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from checkins where registration_id = @other", new { other }));
    }

    [Theory]
    [InlineData("refunded", "ticket-refunded")]
    [InlineData("refund_due", "ticket-refund-due")]
    public async Task A_ticket_whose_seat_was_given_back_is_refused_with_its_own_type(string status, string type)
    {
        var eventId = await app.CreateEventAsync();
        var registrationId = await app.PaidRegistrationAsync(eventId, "Kiran");
        var (_, key) = await app.ScannerKeyAsync(eventId);
        if (status == "refunded")
        {
            await app.RefundThroughLedgerAsync(registrationId);
        }
        else
        {
            await app.MakeRefundDueAsync(registrationId, eventId);
        }

        var answer = await app.ScanAsync(key, app.TokenFor(registrationId, eventId));

        Assert.Equal((409, Problem + type), (answer.Status, answer.ProblemType));
        Assert.Equal("Kiran", answer.Json.GetProperty("memberName").GetString());
        Assert.Equal(registrationId, answer.Json.GetProperty("registrationId").GetGuid());
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from checkins where registration_id = @registrationId", new { registrationId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_cancelled_registrations_ticket_is_refused_as_cancelled()
    {
        var eventId = await app.CreateEventAsync();
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var (registrationId, _) = await app.OrderAsync(eventId, await app.CreateMemberAsync("+919811100112", "Leela"));
        await app.ExecuteAsync("update event_registrations set status = 'cancelled' where id = @registrationId", new { registrationId });

        var answer = await app.ScanAsync(key, app.TokenFor(registrationId, eventId));

        Assert.Equal((409, Problem + "ticket-cancelled"), (answer.Status, answer.ProblemType));
        Assert.Equal("Leela", answer.Json.GetProperty("memberName").GetString());
    }

    [Fact]
    public async Task Pending_another_events_unknown_and_cancelled_event_tickets_are_refused_each_with_its_type()
    {
        var eventId = await app.CreateEventAsync();
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var (pending, _) = await app.OrderAsync(eventId, await app.CreateMemberAsync("+919811100111", "Pending Person"));

        var otherEvent = await app.CreateEventAsync();
        var otherTicket = await app.PaidRegistrationAsync(otherEvent);

        Assert.Equal(Problem + "ticket-not-paid", (await app.ScanAsync(key, app.TokenFor(pending, eventId))).ProblemType);
        var wrongEvent = await app.ScanAsync(key, app.TokenFor(otherTicket, otherEvent));
        Assert.Equal((409, Problem + "ticket-other-event"), (wrongEvent.Status, wrongEvent.ProblemType));
        Assert.False(wrongEvent.Json.TryGetProperty("memberName", out _));
        Assert.Equal(Problem + "ticket-unknown", (await app.ScanAsync(key, app.TokenFor(Guid.NewGuid(), eventId))).ProblemType);

        var doomed = await app.CreateEventAsync();
        var doomedTicket = await app.PaidRegistrationAsync(doomed);
        var (_, doomedKey) = await app.ScannerKeyAsync(doomed);
        await app.ExecuteAsync("update events set status = 'cancelled' where id = @doomed", new { doomed });
        Assert.Equal(Problem + "ticket-event-cancelled", (await app.ScanAsync(doomedKey, app.TokenFor(doomedTicket, doomed))).ProblemType);

        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from checkins"
            + " where registration_id in (@pending, @otherTicket, @doomedTicket)", new { pending, otherTicket, doomedTicket }));
    }

    [Fact]
    public async Task Who_may_scan_a_scanner_key_of_the_event_or_an_organiser_naming_the_event()
    {
        var eventId = await app.CreateEventAsync();
        var registrationId = await app.PaidRegistrationAsync(eventId);
        var token = app.TokenFor(registrationId, eventId);
        var body = JsonSerializer.Serialize(new { token, scannerId = "d", nonce = Guid.NewGuid() });

        Assert.Equal((401, Problem + "scanner-unauthenticated"), await StatusOf(app.CheckinRawAsync(body, new Dictionary<string, string[]>())));
        Assert.Equal((401, Problem + "scanner-unauthenticated"), await StatusOf(app.CheckinRawAsync(body, CheckinCalls.WithScannerKey("sk_made_up"))));
        Assert.Equal((401, Problem + "scanner-unauthenticated"), await StatusOf(app.CheckinRawAsync(body, AdminKeys.With("wrong admin key"))));
        Assert.Equal((400, Problem + "invalid-field"), await StatusOf(app.CheckinRawAsync(body, AdminKeys.With(AdminKeys.Organiser))));

        var (_, otherKey) = await app.ScannerKeyAsync(await app.CreateEventAsync());
        var naming = JsonSerializer.Serialize(new { token, scannerId = "d", nonce = Guid.NewGuid(), eventId });
        Assert.Equal((403, Problem + "scanner-key-other-event"), await StatusOf(app.CheckinRawAsync(naming, CheckinCalls.WithScannerKey(otherKey))));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from checkins where registration_id = @registrationId", new { registrationId }));

        var byOrganiser = await app.CheckinRawAsync(naming, AdminKeys.With(AdminKeys.Organiser));
        Assert.Equal(200, byOrganiser.Status);
        Assert.StartsWith("key:", await app.ScalarAsync<string>("select credential from checkin_scans where registration_id = @registrationId", new { registrationId }));
    }

    [Theory]
    [InlineData("", "malformed-json")]
    [InlineData("[]", "malformed-json")]
    [InlineData("""{"scannerId":"d","nonce":"6f1c2a1e-0000-4000-8000-000000000001"}""", "missing-field")]
    [InlineData("""{"token":5,"scannerId":"d","nonce":"6f1c2a1e-0000-4000-8000-000000000001"}""", "invalid-field")]
    [InlineData("""{"token":"x","nonce":"6f1c2a1e-0000-4000-8000-000000000001"}""", "missing-field")]
    [InlineData("""{"token":"x","scannerId":"   ","nonce":"6f1c2a1e-0000-4000-8000-000000000001"}""", "invalid-field")]
    [InlineData("""{"token":"x","scannerId":"d","nonce":"not-a-uuid"}""", "invalid-field")]
    [InlineData("""{"token":"x","scannerId":"d"}""", "missing-field")]
    [InlineData("""{"token":"x","scannerId":"d","nonce":"6f1c2a1e-0000-4000-8000-000000000001"}""", "ticket-invalid")]
    [InlineData("""{"token":"x","scannerId":"d","nonce":"6f1c2a1e-0000-4000-8000-000000000001","eventId":"x"}""", "invalid-field")]
    public async Task Bad_input_is_answered_with_its_problem_and_writes_nothing(string body, string type)
    {
        var before = await app.ScalarAsync<long>("select count(*) from checkin_scans");
        var answer = await app.CheckinRawAsync(body, CheckinCalls.WithScannerKey("sk_anything"));
        Assert.Equal(Problem + type, answer.ProblemType);
        Assert.True(answer.Status is 400, answer.ToString());
        Assert.Equal(before, await app.ScalarAsync<long>("select count(*) from checkin_scans"));
    }

    [Fact]
    public async Task Fifty_scans_of_one_ticket_at_two_doors_at_once_admit_it_exactly_once()
    {
        var eventId = await app.CreateEventAsync();
        var registrationId = await app.PaidRegistrationAsync(eventId);
        var (_, north) = await app.ScannerKeyAsync(eventId, "North");
        var (_, south) = await app.ScannerKeyAsync(eventId, "South");
        var token = app.TokenFor(registrationId, eventId);
        using var start = new ManualResetEventSlim();

        var scans = Enumerable.Range(0, 50).Select(i => Task.Run(async () =>
        {
            start.Wait();
            return await app.ScanAsync(i % 2 == 0 ? north : south, token, scannerId: i % 2 == 0 ? "north" : "south");
        })).ToList();
        start.Set();
        var answers = await Task.WhenAll(scans);

        Assert.Single(answers, a => a.Status == 200);
        Assert.Equal(49, answers.Count(a => a.Status == 409 && a.ProblemType == Problem + "already-admitted"));
        var winner = answers.Single(a => a.Status == 200).Json.GetProperty("scannerId").GetString();
        Assert.All(answers.Where(a => a.Status == 409), a => Assert.Equal(winner, a.Json.GetProperty("admittedBy").GetString()));
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from checkins where registration_id = @registrationId", new { registrationId }));
        Assert.Equal(50, await app.ScalarAsync<long>("select count(*) from checkin_scans where registration_id = @registrationId", new { registrationId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Concurrent_retries_of_one_nonce_get_one_answer()
    {
        var eventId = await app.CreateEventAsync();
        var registrationId = await app.PaidRegistrationAsync(eventId);
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var token = app.TokenFor(registrationId, eventId);
        var nonce = Guid.NewGuid();

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => app.ScanAsync(key, token, nonce))));

        Assert.All(answers, a => Assert.Equal((200, answers[0].Body), (a.Status, a.Body)));
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from checkin_scans where nonce = @nonce", new { nonce }));
        await app.AssertAllAsync();
    }

    private static async Task<(int, string)> StatusOf(Task<HttpAnswer> call)
    {
        var answer = await call;
        return (answer.Status, answer.ProblemType);
    }
}

/// <summary>A forged or malformed ticket is refused from its signature alone: the database is unreachable and the answer is the same.</summary>
public sealed class ForgedScanTests(ProxiedDatabaseApp app) : IClassFixture<ProxiedDatabaseApp>
{
    [Fact]
    public async Task One_byte_changed_or_another_key_is_refused_without_a_database_read()
    {
        var eventId = await app.CreateEventAsync();
        var registrationId = await app.PaidRegistrationAsync(eventId);
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var genuine = app.TokenFor(registrationId, eventId);
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var otherSigned = TicketToken.Create(registrationId, eventId, otherKey);
        var bytes = genuine.ToCharArray();
        bytes[20] = bytes[20] == 'A' ? 'B' : 'A';
        var oneChanged = new string(bytes);
        var scansBefore = await app.ScalarAsync<long>("select count(*) from checkin_scans");

        app.Proxy.GoDown();
        try
        {
            foreach (var token in new[] { oneChanged, otherSigned, genuine[..^1], genuine + "A", "garbage" })
            {
                var answer = await app.ScanAsync(key, token);
                Assert.Equal((400, "urn:eventregistration:problem:ticket-invalid"), (answer.Status, answer.ProblemType));
            }

            // The same request with the genuine token does need the database, and says it is unavailable: the proxy is really down.
            var genuineAnswer = await app.ScanAsync(key, genuine);
            Assert.Equal(503, genuineAnswer.Status);
        }
        finally
        {
            app.Proxy.Restore();
        }

        Assert.Equal(scansBefore, await app.ScalarAsync<long>("select count(*) from checkin_scans"));
        Assert.Equal(200, (await app.ScanAsync(key, genuine)).Status);
    }
}
