using EventRegistration.Functions.Admin.Members;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Admin;

public sealed class MemberUpsertTests(TestApp app) : IClassFixture<TestApp>
{
    private async Task<HttpAnswer> UpsertAsync(string id, string body, string? key = AdminKeys.Organiser)
    {
        var request = TestApp.Request(body, AdminKeys.With(key));
        request.Method = "PUT";
        return await TestApp.ExecuteAsync(request, await app.Function<MemberUpsertFunction>().AdminUpsertMember(request, id));
    }

    [Fact]
    public async Task A_member_is_created_then_replaced_and_each_change_is_audited_with_before_and_after()
    {
        var id = Guid.NewGuid();

        var created = await UpsertAsync(id.ToString(), """{"name":"अनीता शर्मा","whatsApp":"+91 98123 45678","email":"anita@example.org"}""");
        var updated = await UpsertAsync(id.ToString(), """{"name":"Anita Sharma","whatsApp":"+919812345679","email":null}""");

        Assert.Equal(201, created.Status);
        Assert.Equal("+919812345678", created.Json.GetProperty("phoneE164").GetString());
        Assert.Equal(200, updated.Status);
        var stored = (await app.QueryAsync<(string Name, string Phone, string? Email)>(
            "select name, phone_e164, email from members where id = @id", new { id })).Single();
        Assert.Equal(("Anita Sharma", "+919812345679", (string?)null), stored);
        var audits = await app.QueryAsync<(string Action, string? Before)>(
            "select action, before::text from admin_audit where entity_id = @id order by id", new { id = id.ToString() });
        Assert.Equal(["member.create", "member.update"], audits.Select(a => a.Action));
        Assert.Null(audits[0].Before);
        Assert.Contains("+919812345678", audits[1].Before);
    }

    [Fact]
    public async Task Concurrent_first_upserts_of_one_id_make_one_member()
    {
        var id = Guid.NewGuid().ToString();

        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            Task.Run(() => UpsertAsync(id, $$"""{"name":"Member {{i}}","whatsApp":"+919812345678"}"""))));

        Assert.Single(answers, a => a.Status == 201);
        Assert.All(answers, a => Assert.True(a.Status is 200 or 201, a.ToString()));
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from members where id = @id::uuid", new { id }));
        Assert.Equal(8, await app.ScalarAsync<long>("select count(*) from admin_audit where entity_id = @id", new { id }));
    }

    [Theory]
    [InlineData("not-a-uuid", """{"name":"A","whatsApp":"+919812345678"}""", "memberId")]
    [InlineData(null, """{"whatsApp":"+919812345678"}""", "name")]
    [InlineData(null, """{"name":"  ","whatsApp":"+919812345678"}""", "name")]
    [InlineData(null, """{"name":"A"}""", "whatsApp")]
    [InlineData(null, """{"name":"A","whatsApp":"9812345678"}""", "whatsApp")]
    [InlineData(null, """{"name":"A","whatsApp":"+91123"}""", "whatsApp")]
    [InlineData(null, """{"name":"A","whatsApp":"+919812345678","email":"no-at-sign"}""", "email")]
    [InlineData(null, """{"name":"A","whatsApp":"+919812345678","email":7}""", "email")]
    [InlineData(null, """{"name":"A\u0000B","whatsApp":"+919812345678"}""", "name")]
    [InlineData(null, """{"name":"A","whatsApp":"+919812345678","email":"a\u0000@example.org"}""", "email")]
    public async Task Each_invalid_field_is_named_and_nothing_is_written(string? id, string body, string field)
    {
        var members = await app.ScalarAsync<long>("select count(*) from members");

        var answer = await UpsertAsync(id ?? Guid.NewGuid().ToString(), body);

        Assert.Equal(400, answer.Status);
        Assert.Equal(field, answer.Json.GetProperty("field").GetString());
        Assert.Equal(members, await app.ScalarAsync<long>("select count(*) from members"));
    }

    [Fact]
    public async Task Without_a_valid_key_it_is_401_and_nothing_is_written()
    {
        var id = Guid.NewGuid();

        var answer = await UpsertAsync(id.ToString(), """{"name":"A","whatsApp":"+919812345678"}""", key: "wrong");

        Assert.Equal(401, answer.Status);
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from members where id = @id", new { id }));
    }
}
