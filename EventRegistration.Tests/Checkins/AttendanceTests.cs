using EventRegistration.Functions.Admin.Attendance;
using EventRegistration.Tests.Admin;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Checkins;

/// <summary>Attendance per event for organisers: admitted against paid, by hour in the event's zone.</summary>
public sealed class AttendanceTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Admitted_against_paid_by_hour_in_the_events_time_zone()
    {
        var eventId = await app.CreateEventAsync();
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var tickets = new List<Guid>();
        for (var i = 0; i < 4; i++)
        {
            tickets.Add(await app.PaidRegistrationAsync(eventId, "Guest " + i));
        }

        // Two offline scans in one hour (Asia/Kolkata, +05:30), one in the next, one of them twice (a conflict).
        var hour = new DateTimeOffset(2026, 11, 25, 18, 0, 0, TimeSpan.FromHours(5.5));
        var now = app.Clock.GetUtcNow();
        var baseTime = hour.AddDays(Math.Floor((now - hour).TotalDays) - 1);
        var batch = await app.BatchAsync(key,
            OfflineCalls.OfflineScan(app.TokenFor(tickets[0], eventId), "a", baseTime.AddMinutes(5)),
            OfflineCalls.OfflineScan(app.TokenFor(tickets[1], eventId), "a", baseTime.AddMinutes(59)),
            OfflineCalls.OfflineScan(app.TokenFor(tickets[1], eventId), "b", baseTime.AddMinutes(61)),
            OfflineCalls.OfflineScan(app.TokenFor(tickets[2], eventId), "b", baseTime.AddMinutes(70)));
        Assert.Equal(200, batch.Status);
        await app.RefundThroughLedgerAsync(tickets[2]);

        var answer = await AttendanceAsync(eventId.ToString());

        Assert.Equal(200, answer.Status);
        var json = answer.Json;
        Assert.Equal((3, 3L, 2L, 1L), (json.GetProperty("paid").GetInt32(), json.GetProperty("admitted").GetInt64(),
            json.GetProperty("admittedPaid").GetInt64(), json.GetProperty("conflicts").GetInt64()));
        var hours = json.GetProperty("byHour").EnumerateArray()
            .Select(h => (h.GetProperty("hour").GetDateTimeOffset(), h.GetProperty("admitted").GetInt64())).ToList();
        Assert.Equal([(baseTime, 2L), (baseTime.AddHours(1), 1L)], hours);
        Assert.EndsWith("+05:30", json.GetProperty("byHour")[0].GetProperty("hour").GetString());
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task Unknown_event_bad_id_and_no_key_are_refused()
    {
        Assert.Equal(404, (await AttendanceAsync(Guid.NewGuid().ToString())).Status);
        Assert.Equal(400, (await AttendanceAsync("x")).Status);
        Assert.Equal(401, (await AttendanceAsync(Guid.NewGuid().ToString(), null)).Status);
    }

    private async Task<HttpAnswer> AttendanceAsync(string eventId, string? key = AdminKeys.Organiser)
    {
        var request = CheckinCalls.Get(AdminKeys.With(key));
        return await TestApp.ExecuteAsync(request, await app.Function<AttendanceFunction>().AdminEventAttendance(request, eventId));
    }
}
