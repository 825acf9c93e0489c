using System.Text;
using System.Text.Json;
using EventRegistration.Functions.Admin.Members;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Admin;

public static class MemberImportCalls
{
    public const string Header = "memberId,name,whatsApp,email\n";

    public static async Task<HttpAnswer> ImportAsync(
        this TestApp app, byte[] body, string contentType = "text/csv", string? key = AdminKeys.Organiser,
        IDictionary<string, string[]>? headers = null, bool sendLength = true)
    {
        var request = TestApp.Request(body, headers ?? AdminKeys.With(key));
        request.ContentType = contentType;
        if (!sendLength)
        {
            request.ContentLength = null;
        }

        return await TestApp.ExecuteAsync(request, await app.Function<MemberImportFunction>().AdminImportMembers(request));
    }

    public static Task<HttpAnswer> ImportAsync(this TestApp app, string body, string contentType = "text/csv", string? key = AdminKeys.Organiser) =>
        app.ImportAsync(Encoding.UTF8.GetBytes(body), contentType, key);

    public static List<(long Line, string? Field, string Reason)> Errors(this HttpAnswer answer) =>
        answer.Json.GetProperty("errors").EnumerateArray()
            .Select(e => (e.GetProperty("line").GetInt64(),
                e.GetProperty("field").ValueKind == JsonValueKind.Null ? null : e.GetProperty("field").GetString(),
                e.GetProperty("reason").GetString()!))
            .ToList();

    public static (long Rows, long Inserted, long Updated, long Unchanged, long Failed) Counts(this HttpAnswer answer) =>
        (answer.Json.GetProperty("rows").GetInt64(), answer.Json.GetProperty("inserted").GetInt64(), answer.Json.GetProperty("updated").GetInt64(),
            answer.Json.GetProperty("unchanged").GetInt64(), answer.Json.GetProperty("failed").GetInt64());

    public static Task<long> MemberCountAsync(this TestApp app) => app.ScalarAsync<long>("select count(*) from members");
}

public sealed class MemberImportTests(TestApp app) : IClassFixture<TestApp>
{
    private async Task<(string Name, string Phone, string? Email)> StoredAsync(Guid id) =>
        (await app.QueryAsync<(string, string, string?)>("select name, phone_e164, email from members where id = @id", new { id })).Single();

    [Fact]
    public async Task A_good_csv_file_is_imported_whole_with_indian_scripts_intact_and_one_audit_row_counting_it()
    {
        var (a, b, c) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var audits = await app.ScalarAsync<long>("select count(*) from admin_audit where action = 'member.import'");
        var file = MemberImportCalls.Header +
            $"{a},अनीता शर्मा,+91 98123 45678,anita@example.org\n" +
            $"{b},கார்த்திக் சுப்பிரமணியம்,+919812345679,\n" +
            $"{c},Ravi Kumar,+14155550123,ravi@example.org\n";

        var answer = await app.ImportAsync(file);

        Assert.Equal(200, answer.Status);
        Assert.Equal((3, 3, 0, 0, 0), answer.Counts());
        Assert.Empty(answer.Errors());
        Assert.False(answer.Json.GetProperty("errorsTruncated").GetBoolean());
        Assert.Equal(("अनीता शर्मा", "+919812345678", "anita@example.org"), await StoredAsync(a));
        Assert.Equal(("கார்த்திக் சுப்பிரமணியம்", "+919812345679", (string?)null), await StoredAsync(b));
        Assert.Equal(("Ravi Kumar", "+14155550123", "ravi@example.org"), await StoredAsync(c));
        var audit = (await app.QueryAsync<(string EntityId, string After)>(
            "select entity_id, after::text from admin_audit where action = 'member.import' order by id desc limit 1")).Single();
        Assert.Equal(audits + 1, await app.ScalarAsync<long>("select count(*) from admin_audit where action = 'member.import'"));
        Assert.Equal(answer.Json.GetProperty("importId").GetGuid().ToString(), audit.EntityId);
        using var after = JsonDocument.Parse(audit.After);
        Assert.Equal(3, after.RootElement.GetProperty("inserted").GetInt64());
        Assert.Equal("csv", after.RootElement.GetProperty("format").GetString());
    }

    [Fact]
    public async Task Bad_rows_are_answered_with_their_line_and_field_and_the_good_rows_are_imported()
    {
        var good = Enumerable.Range(0, 3).Select(_ => Guid.NewGuid()).ToArray();
        var file = MemberImportCalls.Header +                                    // line 1
            $"{good[0]},Asha,+919812345678,asha@example.org\n" +                  // 2
            $"not-a-uuid,Bala,+919812345678,\n" +                                 // 3
            $"{Guid.NewGuid()},,+919812345678,\n" +                               // 4
            $"{Guid.NewGuid()},Chitra,98123 45678,\n" +                           // 5
            "\n" +                                                                // 6 (blank, skipped)
            $"{good[1]},Deepa,+919812345670,\n" +                                 // 7
            $"{Guid.NewGuid()},Esha,+919812345678,no-at-sign\n" +                 // 8
            $"{Guid.NewGuid()},Farah,+919812345678\n" +                           // 9 (a cell short)
            $"{Guid.NewGuid()},\"   \",+919812345678,\n" +                         // 10
            $",Gita,+919812345678,\n" +                                           // 11
            $"{good[2]},Hema,+919812345671,hema@example.org";                     // 12, no final line break

        var answer = await app.ImportAsync(file);

        Assert.Equal(200, answer.Status);
        Assert.Equal((10, 3, 0, 0, 7), answer.Counts());
        Assert.Equal(
            [(3, "memberId"), (4, "name"), (5, "whatsApp"), (8, "email"), (9, null), (10, "name"), (11, "memberId")],
            answer.Errors().Select(e => (e.Line, e.Field)));
        Assert.All(answer.Errors(), e => Assert.False(string.IsNullOrWhiteSpace(e.Reason)));
        Assert.Contains("+919812345678", answer.Errors().Single(e => e.Line == 5).Reason);
        Assert.Equal(3, await app.ScalarAsync<long>("select count(*) from members where id = any(@good)", new { good }));
    }

    [Fact]
    public async Task A_member_id_twice_in_one_file_is_imported_from_its_first_row_and_the_repeat_is_an_error()
    {
        var id = Guid.NewGuid();
        var file = MemberImportCalls.Header +
            $"{id},First,+919812345678,\n" +
            $"{Guid.NewGuid()},Other,+919812345679,\n" +
            $"{id.ToString().ToUpperInvariant()},Second,+919812345670,\n";

        var answer = await app.ImportAsync(file);

        Assert.Equal((3, 2, 0, 0, 1), answer.Counts());
        var error = Assert.Single(answer.Errors());
        Assert.Equal((4L, "memberId"), (error.Line, error.Field));
        Assert.Contains("line 2", error.Reason);
        Assert.Equal(("First", "+919812345678", (string?)null), await StoredAsync(id));
    }

    [Fact]
    public async Task Importing_the_same_file_again_changes_nothing_and_a_changed_row_is_updated()
    {
        var ids = Enumerable.Range(0, 5).Select(_ => Guid.NewGuid()).ToArray();
        string File(string lastName) => MemberImportCalls.Header +
            string.Concat(ids.Select((id, i) => $"{id},{(i == 4 ? lastName : $"Member {i}")},+91981234567{i},m{i}@example.org\n"));

        var first = await app.ImportAsync(File("Member 4"));
        var versions = await app.QueryAsync<(Guid Id, string Xmin)>("select id, xmin::text from members where id = any(@ids) order by id", new { ids });
        var again = await app.ImportAsync(File("Member 4"));
        var unchangedVersions = await app.QueryAsync<(Guid Id, string Xmin)>("select id, xmin::text from members where id = any(@ids) order by id", new { ids });
        var changed = await app.ImportAsync(File("मीरा"));

        Assert.Equal((5, 5, 0, 0, 0), first.Counts());
        Assert.Equal((5, 0, 0, 5, 0), again.Counts());
        Assert.Equal(versions, unchangedVersions);
        Assert.Equal((5, 0, 1, 4, 0), changed.Counts());
        Assert.Equal(("मीरा", "+919812345674", "m4@example.org"), await StoredAsync(ids[4]));
        Assert.Equal(5, await app.ScalarAsync<long>("select count(*) from members where id = any(@ids)", new { ids }));
    }

    [Fact]
    public async Task Quoted_cells_keep_commas_quotes_and_line_breaks_and_later_lines_keep_their_numbers()
    {
        var (a, b, c) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var file = MemberImportCalls.Header +                                              // 1
            $"{a},\"Sharma, Anita\",+919812345678,\"a,b@example.org\"\n" +                  // 2
            $"{b},\"Ravi \"\"Ravi\"\" Kumar\",+919812345679,\n" +                           // 3
            $"{c},\"Lakshmi\r\nSubramanian\",+919812345670,\n" +                            // 4-5
            $"{Guid.NewGuid()},Bad,+91,\n" +                                                // 6
            $"{Guid.NewGuid()},Stray\"quote,+919812345678,\n";                              // 7

        var answer = await app.ImportAsync(file);

        Assert.Equal((5, 3, 0, 0, 2), answer.Counts());
        Assert.Equal([(6, "whatsApp"), (7, null)], answer.Errors().Select(e => (e.Line, e.Field)));
        Assert.Equal("Sharma, Anita", (await StoredAsync(a)).Name);
        Assert.Equal("a,b@example.org", (await StoredAsync(a)).Email);
        Assert.Equal("Ravi \"Ravi\" Kumar", (await StoredAsync(b)).Name);
        Assert.Equal("Lakshmi\r\nSubramanian", (await StoredAsync(c)).Name);
    }

    [Fact]
    public async Task A_utf8_byte_order_mark_and_a_header_in_another_order_and_case_are_accepted()
    {
        var id = Guid.NewGuid();
        var file = Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes($"Name,WhatsApp,MemberId\r\nசெல்வி,+919812345678,{id}\r\n")).ToArray();

        var answer = await app.ImportAsync(file);

        Assert.Equal(200, answer.Status);
        Assert.Equal((1, 1, 0, 0, 0), answer.Counts());
        Assert.Equal(("செல்வி", "+919812345678", (string?)null), await StoredAsync(id));
    }

    [Fact]
    public async Task Json_lines_are_imported_with_per_line_errors_and_blank_lines_skipped()
    {
        var (a, b) = (Guid.NewGuid(), Guid.NewGuid());
        var file =
            JsonSerializer.Serialize(new { memberId = a, name = "अनीता", whatsApp = "+919812345678", email = "anita@example.org" }) + "\n" + // 1
            "\n" +                                                                                                                          // 2
            "{not json}\n" +                                                                                                                // 3
            $$"""{"memberId":"{{Guid.NewGuid()}}","name":7,"whatsApp":"+919812345678"}""" + "\r\n" +                                        // 4
            $$"""{"name":"No id","whatsApp":"+919812345678"}""" + "\n" +                                                                   // 5
            $$"""{"memberId":"{{Guid.NewGuid()}}","name":"A\u0000B","whatsApp":"+919812345678"}""" + "\n" +                               // 6
            "[1,2]\n" +                                                                                                                     // 7
            JsonSerializer.Serialize(new { memberId = b, name = "கமலா", whatsApp = "+919812345679" });                                     // 8

        var answer = await app.ImportAsync(file, "application/x-ndjson");

        Assert.Equal(200, answer.Status);
        Assert.Equal((7, 2, 0, 0, 5), answer.Counts());
        Assert.Equal([(3, null), (4, "name"), (5, "memberId"), (6, "name"), (7, null)], answer.Errors().Select(e => (e.Line, e.Field)));
        Assert.Equal(("अनीता", "+919812345678", "anita@example.org"), await StoredAsync(a));
        Assert.Equal(("கமலா", "+919812345679", (string?)null), await StoredAsync(b));
    }

    [Fact]
    public async Task More_than_a_thousand_bad_rows_are_all_counted_and_the_first_thousand_listed()
    {
        var file = MemberImportCalls.Header + string.Concat(Enumerable.Range(0, 1005).Select(_ => $"{Guid.NewGuid()},Name,+91,\n"));

        var answer = await app.ImportAsync(file);

        Assert.Equal((1005, 0, 0, 0, 1005), answer.Counts());
        Assert.Equal(1000, answer.Errors().Count);
        Assert.True(answer.Json.GetProperty("errorsTruncated").GetBoolean());
        Assert.Equal(2, answer.Errors()[0].Line);
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("text/plain")]
    [InlineData("text/csv; charset=windows-1252")]
    [InlineData("")]
    public async Task Another_content_type_is_415_and_nothing_is_read(string contentType)
    {
        var members = await app.MemberCountAsync();

        var answer = await app.ImportAsync(MemberImportCalls.Header + $"{Guid.NewGuid()},A,+919812345678,\n", contentType);

        Assert.Equal(415, answer.Status);
        Assert.Equal("urn:eventregistration:problem:unsupported-media-type", answer.ProblemType);
        Assert.Equal(members, await app.MemberCountAsync());
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("memberId;name;whatsApp;email\n", "unknown column")]
    [InlineData("memberId,name,email\n", "lacks the column whatsApp")]
    [InlineData("memberId,name,whatsApp,name\n", "twice")]
    [InlineData("memberId,name,whatsApp,phone\n", "unknown column 'phone'")]
    public async Task A_wrong_header_is_a_malformed_file_and_nothing_is_imported(string header, string says)
    {
        var members = await app.MemberCountAsync();

        var answer = await app.ImportAsync(header + (header.Length == 0 ? "" : $"{Guid.NewGuid()},A,+919812345678,\n"));

        Assert.Equal(400, answer.Status);
        Assert.Equal("urn:eventregistration:problem:malformed-import", answer.ProblemType);
        Assert.Contains(says, answer.Json.GetProperty("detail").GetString());
        Assert.Equal(members, await app.MemberCountAsync());
    }

    [Theory]
    [InlineData("text/csv")]
    [InlineData("application/x-ndjson")]
    public async Task A_file_that_is_not_utf8_is_malformed_even_past_good_rows_and_nothing_is_imported(string contentType)
    {
        var members = await app.MemberCountAsync();
        var csv = contentType == "text/csv";
        string Row(string name) => csv
            ? $"{Guid.NewGuid()},{name},+919812345678,\n"
            : $$"""{"memberId":"{{Guid.NewGuid()}}","name":"{{name}}","whatsApp":"+919812345678"}""" + "\n";
        var before = Encoding.UTF8.GetBytes((csv ? MemberImportCalls.Header : "") + string.Concat(Enumerable.Range(0, 2500).Select(i => Row($"Good {i}"))));
        // "José" as Windows-1252 writes it: é is the single byte 0xE9, never valid UTF-8 here.
        var latin1 = Encoding.Latin1.GetBytes(Row("José"));

        var answer = await app.ImportAsync([.. before, .. latin1], contentType);

        Assert.Equal(400, answer.Status);
        Assert.Equal("urn:eventregistration:problem:malformed-import", answer.ProblemType);
        Assert.Contains("UTF-8", answer.Json.GetProperty("detail").GetString());
        Assert.Contains(csv ? "line 2502" : "line 2501", answer.Json.GetProperty("detail").GetString());
        Assert.Equal(members, await app.MemberCountAsync());
    }

    [Fact]
    public async Task An_unclosed_quote_swallowing_the_file_is_malformed()
    {
        var members = await app.MemberCountAsync();
        var file = MemberImportCalls.Header + $"{Guid.NewGuid()},\"Open quote,+919812345678,\n" +
            string.Concat(Enumerable.Range(0, 2000).Select(i => $"{Guid.NewGuid()},Member {i},+919812345678,member{i}@example.org\n"));

        var answer = await app.ImportAsync(file);

        Assert.Equal(400, answer.Status);
        Assert.Equal("urn:eventregistration:problem:malformed-import", answer.ProblemType);
        Assert.Equal(members, await app.MemberCountAsync());
    }

    [Fact]
    public async Task Without_a_key_it_is_401_and_nothing_is_read()
    {
        var members = await app.MemberCountAsync();

        var missing = await app.ImportAsync(MemberImportCalls.Header + $"{Guid.NewGuid()},A,+919812345678,\n", key: null);
        var wrong = await app.ImportAsync(MemberImportCalls.Header + $"{Guid.NewGuid()},A,+919812345678,\n", key: "wrong");

        Assert.Equal((401, 401), (missing.Status, wrong.Status));
        Assert.Equal("urn:eventregistration:problem:admin-unauthenticated", missing.ProblemType);
        Assert.Equal(members, await app.MemberCountAsync());
    }

    [Fact]
    public async Task Two_imports_of_one_file_at_once_write_each_member_once()
    {
        var ids = Enumerable.Range(0, 300).Select(_ => Guid.NewGuid()).ToArray();
        var file = MemberImportCalls.Header + string.Concat(ids.Select((id, i) => $"{id},Member {i},+919812345678,\n"));

        var answers = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(() => app.ImportAsync(file))));

        // The second waits for the first's row locks: it then finds every member unchanged, or gives up
        // after the lock timeout with a 503 and writes nothing.
        Assert.All(answers, a => Assert.True(a.Status is 200 or 503, a.ToString()));
        Assert.Contains(answers, a => a.Status == 200 && a.Counts().Inserted == 300);
        Assert.All(answers.Where(a => a.Status == 200 && a.Counts().Inserted != 300), a => Assert.Equal((300, 0, 0, 300, 0), a.Counts()));
        Assert.Equal(300, await app.ScalarAsync<long>("select count(*) from members where id = any(@ids)", new { ids }));
    }
}

/// <summary>An app whose import limits are small enough to pass in a test.</summary>
public sealed class SmallImportLimitsApp : TestApp
{
    public const int MaxRows = 5;
    public const int MaxBytes = 65_536;

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Admin:ImportMaxRows"] = MaxRows.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Admin:ImportMaxBodyBytes"] = MaxBytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Admin:TrustAppServiceAuthentication"] = "true";
    }
}

public sealed class MemberImportLimitTests(SmallImportLimitsApp app) : IClassFixture<SmallImportLimitsApp>
{
    private static string Rows(int count, int nameLength = 4) =>
        MemberImportCalls.Header + string.Concat(Enumerable.Range(0, count).Select(_ => $"{Guid.NewGuid()},{new string('N', nameLength)},+919812345678,\n"));

    [Fact]
    public async Task The_row_limit_is_accepted_and_one_more_row_is_413_with_nothing_imported()
    {
        var atLimit = await app.ImportAsync(Rows(SmallImportLimitsApp.MaxRows));
        var members = await app.MemberCountAsync();

        var over = await app.ImportAsync(Rows(SmallImportLimitsApp.MaxRows + 1));

        Assert.Equal(200, atLimit.Status);
        Assert.Equal(413, over.Status);
        Assert.Equal("urn:eventregistration:problem:import-too-many-rows", over.ProblemType);
        Assert.Contains("5", over.Json.GetProperty("detail").GetString());
        Assert.Equal(members, await app.MemberCountAsync());
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from admin_audit where action = 'member.import'"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_body_over_the_byte_limit_is_413_whether_or_not_it_says_its_length(bool sendLength)
    {
        var members = await app.MemberCountAsync();
        // Few rows, each near the 64 KiB row limit: the body limit is met before the row limit.
        var body = Encoding.UTF8.GetBytes(Rows(3, nameLength: 30_000));

        var answer = await app.ImportAsync(body, sendLength: sendLength);

        Assert.True(body.Length > SmallImportLimitsApp.MaxBytes);
        Assert.Equal(413, answer.Status);
        Assert.Equal("urn:eventregistration:problem:body-too-large", answer.ProblemType);
        Assert.Equal(members, await app.MemberCountAsync());
    }

    [Fact]
    public async Task A_signed_in_person_without_an_admin_role_is_403_and_an_organiser_may_import()
    {
        var members = await app.MemberCountAsync();
        var file = Encoding.UTF8.GetBytes(Rows(1));

        var guest = await app.ImportAsync(file, headers: AdminKeys.Principal("guest@example.org", "reader"));
        var organiser = await app.ImportAsync(file, headers: AdminKeys.Principal("asha@example.org", "organiser"));

        Assert.Equal(403, guest.Status);
        Assert.Equal("urn:eventregistration:problem:admin-forbidden", guest.ProblemType);
        Assert.Equal(200, organiser.Status);
        Assert.Equal(members + 1, await app.MemberCountAsync());
        Assert.Equal("user:asha@example.org", await app.ScalarAsync<string>(
            "select actor from admin_audit where entity_id = @id", new { id = organiser.Json.GetProperty("importId").GetGuid().ToString() }));
    }
}
