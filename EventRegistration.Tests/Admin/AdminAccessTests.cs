using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Admin;

/// <summary>Who may call the admin API when App Service Authentication is NOT in front of the app (the default).</summary>
public sealed class AdminAccessTests(TestApp app) : IClassFixture<TestApp>
{
    private Task<long> EventCountAsync() => app.ScalarAsync<long>("select count(*) from events");

    private Task<long> AuditCountAsync() => app.ScalarAsync<long>("select count(*) from admin_audit");

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("not-a-key")]
    [InlineData(AdminKeys.Organiser + " ")]
    public async Task A_request_without_a_valid_key_is_401_and_changes_nothing(string? key)
    {
        var (events, audits) = (await EventCountAsync(), await AuditCountAsync());

        var answer = await app.CreateEventAsync(AdminKeys.EventBody(), key);

        Assert.Equal(401, answer.Status);
        Assert.Equal("application/problem+json", answer.ContentType);
        Assert.Equal("urn:eventregistration:problem:admin-unauthenticated", answer.ProblemType);
        Assert.Equal(events, await EventCountAsync());
        Assert.Equal(audits, await AuditCountAsync());
    }

    [Fact]
    public async Task Principal_headers_are_ignored_unless_app_service_authentication_is_configured()
    {
        var events = await EventCountAsync();
        var request = TestApp.Request(AdminKeys.EventBody(), AdminKeys.Principal("mallory@example.org", "operator"));

        var answer = await TestApp.ExecuteAsync(request,
            await app.Function<EventRegistration.Functions.Admin.Events.AdminEventsFunction>().AdminCreateEvent(request));

        Assert.Equal(401, answer.Status);
        Assert.Equal(events, await EventCountAsync());
    }

    [Theory]
    [InlineData(AdminKeys.Organiser, "organiser")]
    [InlineData(AdminKeys.RotatedOrganiser, "organiser")]
    [InlineData(AdminKeys.Operator, "operator")]
    public async Task Each_configured_key_acts_with_its_role_and_is_named_in_the_audit_by_its_hash_not_itself(string key, string role)
    {
        var answer = await app.CreateEventAsync(AdminKeys.EventBody(), key);

        Assert.Equal(201, answer.Status);
        var id = answer.Json.GetProperty("id").GetGuid().ToString();
        var audit = (await app.QueryAsync<(string Actor, string Role)>(
            "select actor, role from admin_audit where entity_id = @id", new { id })).Single();
        Assert.Equal("key:" + AdminKeys.Hash(key)[..12], audit.Actor);
        Assert.Equal(role, audit.Role);
        Assert.DoesNotContain(key, audit.Actor);
    }

    [Fact]
    public async Task Listing_events_needs_a_key_too()
    {
        Assert.Equal(401, (await app.ListEventsAsync(AdminKeys.With(null))).Status);
        Assert.Equal(401, (await app.ListEventsAsync(AdminKeys.With("wrong"))).Status);
        Assert.Equal(200, (await app.ListEventsAsync(AdminKeys.With(AdminKeys.Organiser))).Status);
    }

    [Fact]
    public async Task A_malformed_key_hash_setting_stops_start_up_naming_the_entry()
    {
        var message = await app.StartUpFailureWithAsync("Admin:KeyHashes", "organiser:abc,boss:" + AdminKeys.Hash("x"));

        Assert.Contains("Admin__KeyHashes entry 1", message);
        Assert.Contains("Admin__KeyHashes entry 2", message);
        Assert.DoesNotContain(AdminKeys.Hash("x"), message);
    }
}

/// <summary>An app configured as running behind App Service Authentication.</summary>
public sealed class TrustedPrincipalApp : TestApp
{
    protected override void Configure(IDictionary<string, string?> settings) =>
        settings["Admin:TrustAppServiceAuthentication"] = "true";
}

public sealed class AdminPrincipalTests(TrustedPrincipalApp app) : IClassFixture<TrustedPrincipalApp>
{
    private async Task<HttpAnswer> CreateAsync(Dictionary<string, string[]> headers)
    {
        var request = TestApp.Request(AdminKeys.EventBody(), headers);
        return await TestApp.ExecuteAsync(request,
            await app.Function<EventRegistration.Functions.Admin.Events.AdminEventsFunction>().AdminCreateEvent(request));
    }

    [Fact]
    public async Task A_signed_in_organiser_acts_and_is_named_in_the_audit()
    {
        var answer = await CreateAsync(AdminKeys.Principal("asha@example.org", "organiser"));

        Assert.Equal(201, answer.Status);
        var id = answer.Json.GetProperty("id").GetGuid().ToString();
        Assert.Equal("user:asha@example.org", await app.ScalarAsync<string>("select actor from admin_audit where entity_id = @id", new { id }));
    }

    [Fact]
    public async Task A_signed_in_person_without_an_admin_role_is_403_and_changes_nothing()
    {
        var events = await app.ScalarAsync<long>("select count(*) from events");

        var answer = await CreateAsync(AdminKeys.Principal("guest@example.org", "reader"));

        Assert.Equal(403, answer.Status);
        Assert.Equal("urn:eventregistration:problem:admin-forbidden", answer.ProblemType);
        Assert.Equal(events, await app.ScalarAsync<long>("select count(*) from events"));
    }

    [Fact]
    public async Task A_malformed_principal_header_is_401()
    {
        var answer = await CreateAsync(new() { ["X-MS-CLIENT-PRINCIPAL"] = ["%%not base64%%"] });

        Assert.Equal(401, answer.Status);
    }

    [Fact]
    public async Task A_wrong_key_is_not_rescued_by_a_principal()
    {
        var headers = AdminKeys.Principal("asha@example.org", "operator");
        headers["X-Admin-Key"] = ["wrong"];

        Assert.Equal(401, (await CreateAsync(headers)).Status);
    }

    [Fact]
    public async Task Every_admin_route_refuses_a_signed_in_person_without_an_admin_role_with_403()
    {
        var eventId = (await app.CreateEventAsync()).ToString();
        var headers = AdminKeys.Principal("guest@example.org", "reader");
        Microsoft.AspNetCore.Http.HttpRequest Request(string method, string body = "")
        {
            var request = TestApp.Request(body, headers);
            request.Method = method;
            return request;
        }

        var answers = new List<(string Route, HttpAnswer Answer)>();
        async Task Call(string route, Microsoft.AspNetCore.Http.HttpRequest request, Func<Microsoft.AspNetCore.Http.HttpRequest, Task<Microsoft.AspNetCore.Mvc.IActionResult>> function) =>
            answers.Add((route, await TestApp.ExecuteAsync(request, await function(request))));

        var events = app.Function<EventRegistration.Functions.Admin.Events.AdminEventsFunction>();
        await Call("create event", Request("POST", AdminKeys.EventBody()), events.AdminCreateEvent);
        await Call("update event", Request("PUT", AdminKeys.EventBody()), r => events.AdminUpdateEvent(r, eventId));
        await Call("list events", Request("GET"), events.AdminListEvents);
        await Call("attendees", Request("GET"), r => app.Function<EventRegistration.Functions.Admin.Attendees.AttendeesFunction>().AdminListAttendees(r, eventId));
        await Call("member", Request("PUT", """{"name":"A","whatsApp":"+919812345678"}"""),
            r => app.Function<EventRegistration.Functions.Admin.Members.MemberUpsertFunction>().AdminUpsertMember(r, Guid.NewGuid().ToString()));
        var anomalies = app.Function<EventRegistration.Functions.Admin.Anomalies.AdminAnomaliesFunction>();
        await Call("anomalies", Request("GET"), anomalies.AdminListAnomalies);
        await Call("resolve", Request("POST", """{"note":"x"}"""), r => anomalies.AdminResolveAnomaly(r, "1"));
        await Call("lookup", Request("GET"), app.Function<EventRegistration.Functions.Admin.Lookup.RegistrationLookupFunction>().AdminLookupRegistration);

        Assert.All(answers, a => Assert.True(a.Answer.Status == 403, $"{a.Route}: {a.Answer}"));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from admin_audit where actor = 'user:guest@example.org'"));
    }
}
