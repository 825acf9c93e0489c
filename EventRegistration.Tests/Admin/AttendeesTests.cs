using EventRegistration.Functions.Admin.Attendees;
using System.Text.Json;
using EventRegistration.Tests.Checkins;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Admin;

public sealed class AttendeesTests(TestApp app) : IClassFixture<TestApp>
{
    private async Task<HttpAnswer> ListAsync(string eventId, string query, string? key = AdminKeys.Organiser)
    {
        var request = TestApp.Request("", AdminKeys.With(key));
        request.Method = "GET";
        request.QueryString = new Microsoft.AspNetCore.Http.QueryString(query);
        return await TestApp.ExecuteAsync(request, await app.Function<AttendeesFunction>().AdminListAttendees(request, eventId));
    }

    [Fact]
    public async Task Registrations_are_paged_by_keyset_and_filtered_by_status()
    {
        var eventId = await app.CreateEventAsync();
        var paid = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync(name: $"Member {i}"));
            Assert.Equal(200, (await app.ConfirmAsync(orderId, TestApp.NewPaymentId())).Status);
            paid.Add(registrationId);
        }

        var pending = (await app.OrderAsync(eventId, await app.CreateMemberAsync())).RegistrationId;
        await app.OrderAsync(await app.CreateEventAsync(), await app.CreateMemberAsync());

        var seen = new List<Guid>();
        var query = "?status=paid&limit=2";
        do
        {
            var page = await ListAsync(eventId.ToString(), query);
            Assert.Equal(200, page.Status);
            foreach (var a in page.Json.GetProperty("attendees").EnumerateArray())
            {
                Assert.Equal("paid", a.GetProperty("status").GetString());
                Assert.StartsWith("Member ", a.GetProperty("name").GetString());
                Assert.Equal("queued", a.GetProperty("ticketStatus").GetString());
                seen.Add(a.GetProperty("registrationId").GetGuid());
            }

            query = page.Json.TryGetProperty("nextAfter", out var next) ? $"?status=paid&limit=2&after={next.GetGuid()}" : "";
        }
        while (query.Length > 0);

        Assert.Equal(paid.Order(), seen.Order());
        Assert.Equal(seen.Count, seen.Distinct().Count());
        var all = await ListAsync(eventId.ToString(), "");
        Assert.Equal(6, all.Json.GetProperty("attendees").GetArrayLength());
        Assert.Contains(all.Json.GetProperty("attendees").EnumerateArray(), a => a.GetProperty("registrationId").GetGuid() == pending);
    }

    [Fact]
    public async Task Each_registration_shows_when_and_by_which_scanner_it_was_admitted_and_null_when_not()
    {
        var eventId = await app.CreateEventAsync();
        var admitted = await app.PaidRegistrationAsync(eventId, "Meera Iyer");
        var notAdmitted = await app.PaidRegistrationAsync(eventId, "Ravi Kumar");
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var scan = await app.ScanAsync(key, app.TokenFor(admitted, eventId), scannerId: "north-1");
        Assert.Equal("admitted", scan.Json.GetProperty("result").GetString());

        // A page of one each, so the admission is read on the keyset path and not only on the first page.
        var rows = new Dictionary<Guid, JsonElement>();
        var query = "?limit=1";
        do
        {
            var page = await ListAsync(eventId.ToString(), query);
            Assert.Equal(200, page.Status);
            var only = Assert.Single(page.Json.GetProperty("attendees").EnumerateArray());
            rows[only.GetProperty("registrationId").GetGuid()] = only;
            query = page.Json.TryGetProperty("nextAfter", out var next) ? $"?limit=1&after={next.GetGuid()}" : "";
        }
        while (query.Length > 0);

        Assert.Equal(2, rows.Count);
        Assert.Equal(scan.Json.GetProperty("admittedAt").GetDateTime(), rows[admitted].GetProperty("admittedAt").GetDateTime());
        Assert.Equal("north-1", rows[admitted].GetProperty("admittedBy").GetString());
        Assert.Equal(JsonValueKind.Null, rows[notAdmitted].GetProperty("admittedAt").ValueKind);
        Assert.Equal(JsonValueKind.Null, rows[notAdmitted].GetProperty("admittedBy").ValueKind);
    }

    [Fact]
    public async Task Each_registration_carries_its_payments_refund_state_and_null_when_nothing_was_refunded()
    {
        var eventId = await app.CreateEventAsync();
        var states = await AttendeeRefundStates.ArrangeAsync(app, eventId);
        var pending = (await app.OrderAsync(eventId, await app.CreateMemberAsync())).RegistrationId;

        // Pages of two, so the refund state is read on the keyset path too.
        var rows = new Dictionary<Guid, JsonElement>();
        var query = "?limit=2";
        do
        {
            var page = await ListAsync(eventId.ToString(), query);
            Assert.Equal(200, page.Status);
            foreach (var a in page.Json.GetProperty("attendees").EnumerateArray())
            {
                rows[a.GetProperty("registrationId").GetGuid()] = a.Clone();
            }

            query = page.Json.TryGetProperty("nextAfter", out var next) ? $"?limit=2&after={next.GetGuid()}" : "";
        }
        while (query.Length > 0);

        (string Status, string? Refund, long? Refunded) Of(Guid id)
        {
            var refund = rows[id].GetProperty("refund");
            return refund.ValueKind == JsonValueKind.Null
                ? (rows[id].GetProperty("status").GetString()!, null, null)
                : (rows[id].GetProperty("status").GetString()!, refund.GetProperty("status").GetString(), refund.GetProperty("amountRefundedPaise").GetInt64());
        }

        Assert.Equal(7, rows.Count);
        Assert.Equal(("paid", null, null), Of(states.NotRefunded));
        Assert.Equal(("pending", null, null), Of(pending));
        // An operator's refund leaves the registration paid until the whole amount is back: only the refund says so.
        Assert.Equal(("paid", "due", 0L), Of(states.Due));
        Assert.Equal(("paid", "requested", 0L), Of(states.Requested));
        Assert.Equal(("paid", "failed", 0L), Of(states.Failed));
        Assert.Equal(("paid", "partial", AttendeeRefundStates.PartRefunded), Of(states.Partial));
        Assert.Equal(("refunded", "processed", AttendeeRefundStates.Price), Of(states.Processed));
        await app.AssertAllAsync();
    }

    [Theory]
    [InlineData("not-a-uuid", "", "eventId")]
    [InlineData(null, "?status=gone", "status")]
    [InlineData(null, "?after=12", "after")]
    [InlineData(null, "?limit=0", "limit")]
    [InlineData(null, "?limit=1001", "limit")]
    public async Task Bad_parameters_are_400_naming_the_field(string? eventId, string query, string field)
    {
        var answer = await ListAsync(eventId ?? (await app.CreateEventAsync()).ToString(), query);

        Assert.Equal(400, answer.Status);
        Assert.Equal(field, answer.Json.GetProperty("field").GetString());
    }

    [Fact]
    public async Task An_unknown_event_is_404_and_a_caller_without_a_key_401()
    {
        Assert.Equal(404, (await ListAsync(Guid.NewGuid().ToString(), "")).Status);
        Assert.Equal(401, (await ListAsync((await app.CreateEventAsync()).ToString(), "", key: null)).Status);
    }
}
