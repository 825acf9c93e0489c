using System.Text.Json;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Admin;

public sealed class AdminEventsTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task An_organiser_creates_an_event_with_its_time_zone_and_the_audit_holds_its_values()
    {
        var answer = await app.CreateEventAsync(AdminKeys.EventBody(capacity: 120, pricePaise: 99_900, status: "draft"));

        Assert.Equal(201, answer.Status);
        var id = answer.Json.GetProperty("id").GetGuid();
        Assert.Equal("2026-12-31T18:30:00+05:30", answer.Json.GetProperty("startsAt").GetString());
        Assert.Equal("Asia/Kolkata", answer.Json.GetProperty("timeZone").GetString());
        Assert.Equal(120, answer.Json.GetProperty("freeSeats").GetInt64());
        var stored = (await app.QueryAsync<(int Capacity, long Price, string Status, DateTime StartsAt)>(
            "select capacity, price_paise, status, starts_at from events where id = @id", new { id })).Single();
        Assert.Equal((120, 99_900L, "draft"), (stored.Capacity, stored.Price, stored.Status));
        Assert.Equal(new DateTime(2026, 12, 31, 13, 0, 0, DateTimeKind.Utc), stored.StartsAt.ToUniversalTime());
        var after = await app.ScalarAsync<string>(
            "select after::text from admin_audit where entity_id = @id and action = 'event.create' and before is null", new { id = id.ToString() });
        Assert.Equal(99_900, JsonDocument.Parse(after).RootElement.GetProperty("pricePaise").GetInt64());
    }

    public static TheoryData<string, string> InvalidBodies() => new()
    {
        { "{}", "title" },
        { """{"title":""}""", "title" },
        { Replace("title", new string('x', 201)), "title" },
        { Replace("startsAt", "2026-12-31 18:30"), "startsAt" },
        { Replace("startsAt", "2026-12-31T18:30:00"), "startsAt" },
        { Replace("timeZone", "Mars/Olympus"), "timeZone" },
        { Replace("venue", new string('v', 301)), "venue" },
        { Replace("capacity", 0), "capacity" },
        { Replace("capacity", "ten"), "capacity" },
        { Replace("pricePaise", 0), "pricePaise" },
        { Replace("pricePaise", 10.5), "pricePaise" },
        { Replace("pricePaise", null), "pricePaise" },
        { Replace("currency", "inr"), "currency" },
        { Replace("status", "cancelled"), "status" },
        { Replace("status", "live"), "status" },
    };

    [Theory]
    [MemberData(nameof(InvalidBodies))]
    public async Task Each_invalid_field_is_named_and_nothing_is_written(string body, string field)
    {
        var events = await app.ScalarAsync<long>("select count(*) from events");
        var existing = (await app.CreateEventAsync(AdminKeys.EventBody())).Json.GetProperty("id").GetString()!;
        var before = await app.ScalarAsync<string>("select row_to_json(e)::text from events e where id = @id::uuid", new { id = existing });

        var created = await app.CreateEventAsync(body);
        var updated = await app.UpdateEventAsync(existing, body);

        foreach (var answer in new[] { created, updated })
        {
            Assert.Equal(400, answer.Status);
            Assert.Equal("application/problem+json", answer.ContentType);
            Assert.Equal(field, answer.Json.GetProperty("field").GetString());
        }

        Assert.Equal(events + 1, await app.ScalarAsync<long>("select count(*) from events"));
        Assert.Equal(before, await app.ScalarAsync<string>("select row_to_json(e)::text from events e where id = @id::uuid", new { id = existing }));
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from admin_audit where entity_id = @existing", new { existing }));
    }

    [Fact]
    public async Task Malformed_json_and_a_bad_route_id_are_400()
    {
        Assert.Equal("urn:eventregistration:problem:malformed-json", (await app.CreateEventAsync("{")).ProblemType);
        var badId = await app.UpdateEventAsync("not-a-uuid", AdminKeys.EventBody());
        Assert.Equal(400, badId.Status);
        Assert.Equal("eventId", badId.Json.GetProperty("field").GetString());
    }

    [Fact]
    public async Task Updating_an_unknown_event_is_404_and_without_a_key_401()
    {
        Assert.Equal(404, (await app.UpdateEventAsync(Guid.NewGuid().ToString(), AdminKeys.EventBody())).Status);
        var eventId = await app.CreateEventAsync(capacity: 10);
        var answer = await app.UpdateEventAsync(eventId.ToString(), AdminKeys.EventBody(capacity: 1), key: "wrong");
        Assert.Equal(401, answer.Status);
        Assert.Equal(10, await app.ScalarAsync<int>("select capacity from events where id = @eventId", new { eventId }));
    }

    [Fact]
    public async Task A_cancelled_event_cannot_be_changed()
    {
        var eventId = await app.CreateEventAsync(status: "cancelled");

        var answer = await app.UpdateEventAsync(eventId.ToString(), AdminKeys.EventBody(status: "open"));

        Assert.Equal(409, answer.Status);
        Assert.Equal("cancelled", await app.ScalarAsync<string>("select status from events where id = @eventId", new { eventId }));
    }

    [Fact]
    public async Task Capacity_below_paid_plus_held_seats_is_409_saying_how_many()
    {
        var eventId = await app.CreateEventAsync(capacity: 10);
        var (_, paidOrder) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        Assert.Equal(200, (await app.ConfirmAsync(paidOrder, TestApp.NewPaymentId())).Status);
        await app.OrderAsync(eventId, await app.CreateMemberAsync());
        await app.OrderAsync(eventId, await app.CreateMemberAsync());

        var refused = await app.UpdateEventAsync(eventId.ToString(), AdminKeys.EventBody(capacity: 2));
        var allowed = await app.UpdateEventAsync(eventId.ToString(), AdminKeys.EventBody(capacity: 3));

        Assert.Equal(409, refused.Status);
        Assert.Equal("urn:eventregistration:problem:capacity-below-taken", refused.ProblemType);
        Assert.Contains("3 seats taken: 1 paid and 2 held", refused.Json.GetProperty("detail").GetString());
        Assert.Equal(200, allowed.Status);
        Assert.Equal((1, 2L, 0L), (allowed.Json.GetProperty("paidSeats").GetInt32(), allowed.Json.GetProperty("heldSeats").GetInt64(),
            allowed.Json.GetProperty("freeSeats").GetInt64()));
        Assert.Equal(1, await app.ScalarAsync<long>(
            "select count(*) from admin_audit where entity_id = @id and action = 'event.update'", new { id = eventId.ToString() }));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_price_change_leaves_existing_orders_at_their_price_and_the_audit_holds_both_prices()
    {
        var eventId = await app.CreateEventAsync(pricePaise: 50_000);
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());

        var answer = await app.UpdateEventAsync(eventId.ToString(), AdminKeys.EventBody(pricePaise: 80_000));

        Assert.Equal(200, answer.Status);
        Assert.Equal(50_000, await app.ScalarAsync<long>("select amount_paise from event_registrations where id = @registrationId", new { registrationId }));
        Assert.Equal(200, (await app.ConfirmAsync(orderId, TestApp.NewPaymentId())).Status);
        var newOrder = await app.CreateOrderAsync(eventId, await app.CreateMemberAsync());
        Assert.Equal(80_000, newOrder.Json.GetProperty("amount").GetInt64());
        var audit = (await app.QueryAsync<(string Before, string After)>(
            "select before::text, after::text from admin_audit where entity_id = @id and action = 'event.update'", new { id = eventId.ToString() })).Single();
        Assert.Equal(50_000, JsonDocument.Parse(audit.Before).RootElement.GetProperty("pricePaise").GetInt64());
        Assert.Equal(80_000, JsonDocument.Parse(audit.After).RootElement.GetProperty("pricePaise").GetInt64());
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task The_list_shows_paid_held_and_free_seats()
    {
        var eventId = await app.CreateEventAsync(capacity: 5);
        var (_, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        Assert.Equal(200, (await app.ConfirmAsync(orderId, TestApp.NewPaymentId())).Status);
        await app.OrderAsync(eventId, await app.CreateMemberAsync());

        var answer = await app.ListEventsAsync(AdminKeys.With(AdminKeys.Organiser));

        Assert.Equal(200, answer.Status);
        var shown = answer.Json.GetProperty("events").EnumerateArray().Single(e => e.GetProperty("id").GetGuid() == eventId);
        Assert.Equal(1, shown.GetProperty("paidSeats").GetInt32());
        Assert.Equal(1, shown.GetProperty("heldSeats").GetInt64());
        Assert.Equal(3, shown.GetProperty("freeSeats").GetInt64());
    }

    [Fact]
    public async Task Capacity_lowered_while_payments_confirm_and_orders_arrive_never_drops_below_paid_plus_held()
    {
        var eventId = await app.CreateEventAsync(capacity: 40);
        var orders = new List<string>();
        for (var i = 0; i < 16; i++)
        {
            orders.Add((await app.OrderAsync(eventId, await app.CreateMemberAsync())).OrderId);
        }

        var newMembers = new List<Guid>();
        for (var i = 0; i < 16; i++)
        {
            newMembers.Add(await app.CreateMemberAsync());
        }

        var confirmations = orders.Select(o => Task.Run(() => app.ConfirmAsync(o, TestApp.NewPaymentId()))).ToList();
        var newOrders = newMembers.Select(m => Task.Run(() => app.CreateOrderAsync(eventId, m))).ToList();
        // From 40 down to 11: the 16 orders above are paid or held throughout, so below 16 must always be refused.
        var capacityChanges = Enumerable.Range(0, 30).Select(i => Task.Run(async () =>
            (Capacity: 40 - i, Answer: await app.UpdateEventAsync(eventId.ToString(), AdminKeys.EventBody(capacity: 40 - i))))).ToList();
        var changes = await Task.WhenAll(capacityChanges);
        var confirmed = await Task.WhenAll(confirmations);
        var ordered = await Task.WhenAll(newOrders);

        Assert.All(changes, c => Assert.True(c.Answer.Status is 200 or 409, c.Answer.ToString()));
        Assert.All(changes.Where(c => c.Capacity < 16), c => Assert.Equal(409, c.Answer.Status));
        Assert.All(confirmed, c => Assert.Equal(200, c.Status));
        Assert.All(ordered, o => Assert.True(o.Status is 201 or 409, o.ToString()));
        var (capacity, paid, held) = (await app.QueryAsync<(int, long, long)>("""
            select capacity,
                   (select count(*) from event_registrations where event_id = e.id and status = 'paid'),
                   (select count(*) from event_registrations where event_id = e.id and status = 'pending' and hold_expires_at > now())
              from events e where id = @eventId
            """, new { eventId })).Single();
        Assert.True(capacity >= paid + held, $"capacity {capacity} < paid {paid} + held {held}");
        Assert.Equal(16, paid);
        Assert.Equal(changes.Count(c => c.Answer.Status == 200), await app.ScalarAsync<long>(
            "select count(*) from admin_audit where entity_id = @id and action = 'event.update'", new { id = eventId.ToString() }));
        await app.AssertAllAsync();
    }

    private static string Replace(string field, object? value)
    {
        var body = JsonSerializer.Deserialize<Dictionary<string, object?>>(AdminKeys.EventBody())!;
        body[field] = value;
        return JsonSerializer.Serialize(body);
    }
}
