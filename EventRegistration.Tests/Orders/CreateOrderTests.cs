using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Orders;

public sealed class CreateOrderTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Order_takes_amount_from_the_event_and_holds_a_seat()
    {
        var eventId = await app.CreateEventAsync(capacity: 10, pricePaise: 75_000);
        var memberId = await app.CreateMemberAsync();

        var answer = await app.CreateOrderAsync(eventId, memberId);

        Assert.Equal(201, answer.Status);
        Assert.Equal(75_000, answer.Json.GetProperty("amount").GetInt64());
        Assert.Equal("INR", answer.Json.GetProperty("currency").GetString());
        Assert.Equal(FakeRazorpay.KeyId, answer.Json.GetProperty("keyId").GetString());
        var orderId = answer.Json.GetProperty("orderId").GetString()!;
        var registrationId = answer.Json.GetProperty("registrationId").GetGuid();

        var sent = app.Razorpay.CreatedOrders.Single(o => (string?)o["id"] == orderId);
        Assert.Equal(75_000, (long)sent["amount"]!);
        Assert.Equal("reg_" + registrationId.ToString("N"), (string?)sent["receipt"]);
        Assert.Equal(registrationId.ToString(), (string?)sent["notes"]!["registration_id"]);
        Assert.Equal(eventId.ToString(), (string?)sent["notes"]!["event_id"]);

        var stored = await app.ScalarAsync<string>("select order_id from event_registrations where id = @registrationId", new { registrationId });
        Assert.Equal(orderId, stored);
        Assert.True(await app.ScalarAsync<bool>(
            "select hold_expires_at > now() + interval '14 minutes' from event_registrations where id = @registrationId", new { registrationId }));
    }

    [Fact]
    public async Task A_repeated_order_request_reuses_the_order()
    {
        var eventId = await app.CreateEventAsync();
        var memberId = await app.CreateMemberAsync();

        var first = await app.CreateOrderAsync(eventId, memberId);
        var ordersBefore = app.Razorpay.CreatedOrders.Count;
        var second = await app.CreateOrderAsync(eventId, memberId);

        Assert.Equal(201, first.Status);
        Assert.Equal(200, second.Status);
        Assert.Equal(first.Json.GetProperty("orderId").GetString(), second.Json.GetProperty("orderId").GetString());
        Assert.Equal(ordersBefore, app.Razorpay.CreatedOrders.Count);
    }

    [Fact]
    public async Task An_event_whose_seats_are_paid_or_held_refuses_new_orders()
    {
        var eventId = await app.CreateEventAsync(capacity: 2);
        await app.OrderAsync(eventId, await app.CreateMemberAsync());
        await app.OrderAsync(eventId, await app.CreateMemberAsync());

        var third = await app.CreateOrderAsync(eventId, await app.CreateMemberAsync());

        Assert.Equal(409, third.Status);
        Assert.Equal("urn:eventregistration:problem:event-full", third.ProblemType);
        Assert.Equal(2, await app.ScalarAsync<long>("select count(*) from event_registrations where event_id = @eventId", new { eventId }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_member_who_paid_cannot_order_again()
    {
        var eventId = await app.CreateEventAsync();
        var memberId = await app.CreateMemberAsync();
        var (_, orderId) = await app.OrderAsync(eventId, memberId);
        Assert.Equal(200, (await app.ConfirmAsync(orderId, TestApp.NewPaymentId())).Status);

        var again = await app.CreateOrderAsync(eventId, memberId);

        Assert.Equal(409, again.Status);
        Assert.Equal("urn:eventregistration:problem:already-registered", again.ProblemType);
    }

    [Theory]
    [InlineData(500, 503)]
    [InlineData(429, 503)]
    [InlineData(401, 502)]
    public async Task Razorpay_failing_answers_a_problem_and_a_retry_works(int razorpayStatus, int expected)
    {
        var eventId = await app.CreateEventAsync();
        var memberId = await app.CreateMemberAsync();
        app.Razorpay.FailOrders(razorpayStatus);
        try
        {
            var failed = await app.CreateOrderAsync(eventId, memberId);
            Assert.Equal(expected, failed.Status);
            Assert.StartsWith("application/problem+json", failed.ContentType);
            if (expected == 503)
            {
                Assert.True(failed.Headers.ContainsKey("Retry-After"));
            }
        }
        finally
        {
            app.Razorpay.Reset();
        }

        var retried = await app.CreateOrderAsync(eventId, memberId);
        Assert.Equal(201, retried.Status);
        Assert.Equal(1, await app.ScalarAsync<long>(
            "select count(*) from event_registrations where event_id = @eventId and member_id = @memberId and order_id is not null", new { eventId, memberId }));
    }

    [Fact]
    public async Task An_expired_hold_is_renewed_and_keeps_its_order()
    {
        var eventId = await app.CreateEventAsync(capacity: 1);
        var memberId = await app.CreateMemberAsync();
        var (registrationId, orderId) = await app.OrderAsync(eventId, memberId);
        app.Clock.Advance(TimeSpan.FromMinutes(16));

        var other = await app.CreateOrderAsync(eventId, await app.CreateMemberAsync());
        Assert.Equal(201, other.Status);
        var mine = await app.CreateOrderAsync(eventId, memberId);

        Assert.Equal(409, mine.Status);
        Assert.Equal("urn:eventregistration:problem:event-full", mine.ProblemType);
        Assert.Equal(orderId, await app.ScalarAsync<string>("select order_id from event_registrations where id = @registrationId", new { registrationId }));
    }

    [Fact]
    public async Task Concurrent_orders_for_the_last_seats_never_hold_more_than_capacity()
    {
        var eventId = await app.CreateEventAsync(capacity: 5);
        var members = new List<Guid>();
        for (var i = 0; i < 20; i++)
        {
            members.Add(await app.CreateMemberAsync());
        }

        var answers = await Task.WhenAll(members.Select(m => app.CreateOrderAsync(eventId, m)));

        Assert.Equal(5, answers.Count(a => a.Status == 201));
        Assert.Equal(15, answers.Count(a => a.Status == 409));
        await app.AssertAllAsync();
    }
}
