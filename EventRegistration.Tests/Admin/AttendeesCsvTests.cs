using System.Text;
using CsvHelper;
using EventRegistration.Functions.Admin.Attendees;
using EventRegistration.Tests.Checkins;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Admin;

public static class AttendeesCsvCalls
{
    public static async Task<Download> AttendeesAsync(
        this TestApp app, string eventId, string query = "", string? accept = "text/csv", IDictionary<string, string[]>? headers = null)
    {
        var all = new Dictionary<string, string[]>(headers ?? AdminKeys.With(AdminKeys.Organiser));
        if (accept is not null)
        {
            all["Accept"] = [accept];
        }

        var request = TestApp.Request("", all);
        request.Method = "GET";
        request.QueryString = new Microsoft.AspNetCore.Http.QueryString(query);
        var context = request.HttpContext;
        await (await app.Function<AttendeesFunction>().AdminListAttendees(request, eventId)).ExecuteResultAsync(
            new Microsoft.AspNetCore.Mvc.ActionContext { HttpContext = context });
        var bytes = ((MemoryStream)context.Response.Body).ToArray();
        return new Download(context.Response.StatusCode, context.Response.ContentType ?? "", bytes,
            context.Response.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase));
    }

    /// <summary>The download parsed back as a spreadsheet would: by an RFC 4180 reader, header by name.</summary>
    public static List<Dictionary<string, string>> ParseCsv(byte[] bytes)
    {
        using var csv = CsvReader.Create(bytes, new CsvReaderOptions { Separator = ',', HasHeader = true, MalformedData = CsvMalformedDataHandling.Throw });
        var rows = new List<Dictionary<string, string>>();
        while (csv.Read())
        {
            Assert.Equal(AttendeesCsv.Columns, csv.Headers);
            rows.Add(csv.Headers.Select((h, i) => (h, v: csv.GetString(i))).ToDictionary(p => p.h, p => p.v));
        }

        return rows;
    }
}

/// <summary>A response read as bytes: a CSV download's byte order mark is part of what is tested.</summary>
public sealed record Download(int Status, string ContentType, byte[] Bytes, IReadOnlyDictionary<string, string> Headers)
{
    public string Body => Encoding.UTF8.GetString(Bytes);

    public string ProblemType => System.Text.Json.JsonDocument.Parse(Bytes).RootElement.GetProperty("type").GetString()!;
}

public sealed class AttendeesCsvTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task The_download_opens_in_a_spreadsheet_with_scripts_quoting_and_formulas_made_harmless()
    {
        var eventId = await app.CreateEventAsync();
        string[] names =
        [
            "अनीता शर्मा", "கார்த்திக் சுப்பிரமணியம்", "Sharma, Anita", "Ravi \"Ravi\" Kumar", "Lakshmi\r\nSubramanian",
            "=HYPERLINK(\"http://evil.example\",\"click\")", "+SUM(1,2)", "-2+3", "@cmd",
        ];
        var registrations = new Dictionary<Guid, string>();
        foreach (var name in names)
        {
            var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync(name: name));
            Assert.Equal(200, (await app.ConfirmAsync(orderId, TestApp.NewPaymentId())).Status);
            registrations[registrationId] = name;
        }

        var answer = await app.AttendeesAsync(eventId.ToString());

        Assert.Equal(200, answer.Status);
        Assert.Equal("text/csv; charset=utf-8", answer.ContentType);
        Assert.StartsWith("attachment; filename=\"attendees-", answer.Headers["Content-Disposition"]);
        Assert.Equal([0xEF, 0xBB, 0xBF], answer.Bytes[..3]);
        Assert.Contains("\"Sharma, Anita\"", answer.Body);
        Assert.Contains("\"Ravi \"\"Ravi\"\" Kumar\"", answer.Body);
        var rows = AttendeesCsvCalls.ParseCsv(answer.Bytes);
        Assert.Equal(names.Length, rows.Count);
        foreach (var row in rows)
        {
            var original = registrations[Guid.Parse(row["registrationId"])];
            var formula = original[0] is '=' or '+' or '-' or '@';
            Assert.Equal(formula ? "'" + original : original, row["name"]);
            Assert.Equal("'+919812345678", row["whatsApp"]);
            Assert.Equal("paid", row["status"]);
            Assert.StartsWith("pay_", row["paymentId"]);
            Assert.True(DateTime.TryParse(row["paidAtUtc"], System.Globalization.CultureInfo.InvariantCulture, out _), row["paidAtUtc"]);
            Assert.Equal("queued", row["ticketStatus"]);
        }

        Assert.Equal(registrations.Keys.Order(), rows.Select(r => Guid.Parse(r["registrationId"])));
    }

    [Fact]
    public async Task Every_registration_of_the_event_is_streamed_past_a_page_once_and_the_status_filter_applies()
    {
        var eventId = await app.CreateEventAsync(capacity: null);
        var other = await app.CreateEventAsync();
        const int pending = AttendeesCsv.PageSize * 2 + 37;
        await app.ExecuteAsync("""
            insert into members (id, name, phone_e164) select gen_random_uuid(), 'सदस्य ' || g, '+919812345678' from generate_series(1, @pending) g;
            insert into event_registrations (id, event_id, member_id, amount_paise, currency)
            select gen_random_uuid(), @eventId, id, 50000, 'INR' from members where name like 'सदस्य %';
            """, new { pending, eventId });
        var (paidId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync(name: "Paid Member"));
        Assert.Equal(200, (await app.ConfirmAsync(orderId, TestApp.NewPaymentId())).Status);
        await app.OrderAsync(other, await app.CreateMemberAsync(name: "Elsewhere"));

        var all = AttendeesCsvCalls.ParseCsv((await app.AttendeesAsync(eventId.ToString(), "?limit=5")).Bytes);
        var paid = AttendeesCsvCalls.ParseCsv((await app.AttendeesAsync(eventId.ToString(), "?status=paid")).Bytes);
        var pendingRows = AttendeesCsvCalls.ParseCsv((await app.AttendeesAsync(eventId.ToString(), "?status=pending")).Bytes);

        Assert.Equal(pending + 1, all.Count);
        Assert.Equal(all.Count, all.Select(r => r["registrationId"]).Distinct().Count());
        Assert.Equal(all.Select(r => Guid.Parse(r["registrationId"])).Order(), all.Select(r => Guid.Parse(r["registrationId"])));
        Assert.DoesNotContain(all, r => r["name"] == "Elsewhere");
        Assert.Equal(paidId, Guid.Parse(Assert.Single(paid)["registrationId"]));
        Assert.Equal(pending, pendingRows.Count);
        Assert.All(pendingRows, r => Assert.Equal(("pending", "", "", "none", "", ""),
            (r["status"], r["paymentId"], r["paidAtUtc"], r["ticketStatus"], r["admittedAtUtc"], r["admittedBy"])));
        Assert.All(pendingRows, r => Assert.StartsWith("सदस्य ", r["name"]));
    }

    [Fact]
    public async Task An_admitted_registration_has_its_admission_time_and_scanner_and_one_not_admitted_empty_cells()
    {
        var eventId = await app.CreateEventAsync();
        var admitted = await app.PaidRegistrationAsync(eventId, "Meera Iyer");
        var notAdmitted = await app.PaidRegistrationAsync(eventId, "Ravi Kumar");
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var scan = await app.ScanAsync(key, app.TokenFor(admitted, eventId), scannerId: "=north-1");
        Assert.Equal("admitted", scan.Json.GetProperty("result").GetString());

        var answer = await app.AttendeesAsync(eventId.ToString());

        Assert.StartsWith(
            "registrationId,memberId,name,whatsApp,status,paymentId,paidAtUtc,ticketStatus,admittedAtUtc,admittedBy,refundStatus,amountRefundedPaise\r\n",
            answer.Body.TrimStart('\uFEFF'));
        var rows = AttendeesCsvCalls.ParseCsv(answer.Bytes).ToDictionary(r => Guid.Parse(r["registrationId"]));
        var admittedAt = scan.Json.GetProperty("admittedAt").GetDateTime().ToUniversalTime();
        Assert.Equal(admittedAt.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture), rows[admitted]["admittedAtUtc"]);
        // The scanner id is typed at the door: a formula there is made harmless like any other text.
        Assert.Equal("'=north-1", rows[admitted]["admittedBy"]);
        Assert.Equal(("", ""), (rows[notAdmitted]["admittedAtUtc"], rows[notAdmitted]["admittedBy"]));
    }

    [Fact]
    public async Task Each_row_has_its_payments_refund_state_and_amount_refunded_and_empty_cells_when_nothing_was_refunded()
    {
        var eventId = await app.CreateEventAsync();
        var states = await AttendeeRefundStates.ArrangeAsync(app, eventId);

        var answer = await app.AttendeesAsync(eventId.ToString());

        Assert.Equal(200, answer.Status);
        var rows = AttendeesCsvCalls.ParseCsv(answer.Bytes).ToDictionary(r => Guid.Parse(r["registrationId"]));
        (string, string, string) Of(Guid id) => (rows[id]["status"], rows[id]["refundStatus"], rows[id]["amountRefundedPaise"]);
        Assert.Equal(("paid", "", ""), Of(states.NotRefunded));
        Assert.Equal(("paid", "due", "0"), Of(states.Due));
        Assert.Equal(("paid", "requested", "0"), Of(states.Requested));
        Assert.Equal(("paid", "failed", "0"), Of(states.Failed));
        Assert.Equal(("paid", "partial", "10000"), Of(states.Partial));
        Assert.Equal(("refunded", "processed", "50000"), Of(states.Processed));
    }

    [Fact]
    public async Task The_download_writes_only_asynchronously_as_kestrel_requires()
    {
        var eventId = await app.CreateEventAsync();
        await app.OrderAsync(eventId, await app.CreateMemberAsync(name: "अनीता"));
        var request = TestApp.Request("", new Dictionary<string, string[]>(AdminKeys.With(AdminKeys.Organiser)) { ["Accept"] = ["text/csv"] });
        request.Method = "GET";
        var body = new AsyncOnlyStream();
        request.HttpContext.Response.Body = body;

        await (await app.Function<AttendeesFunction>().AdminListAttendees(request, eventId.ToString())).ExecuteResultAsync(
            new Microsoft.AspNetCore.Mvc.ActionContext { HttpContext = request.HttpContext });

        Assert.Single(AttendeesCsvCalls.ParseCsv(body.ToArray()));
    }

    /// <summary>A response body that refuses synchronous writes, as Kestrel's does (AllowSynchronousIO is off).</summary>
    private sealed class AsyncOnlyStream : Stream
    {
        private readonly MemoryStream _written = new();

        public byte[] ToArray() => _written.ToArray();

        public override void Write(byte[] buffer, int offset, int count) => throw new InvalidOperationException("Synchronous operations are disallowed.");

        public override void Flush() => throw new InvalidOperationException("Synchronous operations are disallowed.");

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            _written.Write(buffer, offset, count);
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _written.Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _written.Length;
        public override long Position { get => _written.Length; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    [Theory]
    [InlineData("text/csv", true)]
    [InlineData("text/csv; q=0.9, application/json; q=0.5", true)]
    [InlineData("application/json, text/csv; q=0.5", false)]
    [InlineData("application/json", false)]
    [InlineData(null, false)]
    [InlineData("*/*", false)]
    public async Task Csv_is_sent_only_when_asked_for_above_json(string? accept, bool csv)
    {
        var eventId = await app.CreateEventAsync();
        await app.OrderAsync(eventId, await app.CreateMemberAsync());

        var answer = await app.AttendeesAsync(eventId.ToString(), accept: accept);

        Assert.Equal(200, answer.Status);
        Assert.Equal(csv ? "text/csv; charset=utf-8" : "application/json", answer.ContentType);
    }

    [Theory]
    [InlineData(null, "?status=gone", 400, "invalid-field")]
    [InlineData(null, "?limit=0", 400, "invalid-field")]
    [InlineData("not-a-uuid", "", 400, "invalid-field")]
    [InlineData("00000000-0000-4000-8000-000000000000", "", 404, "event-not-found")]
    public async Task A_csv_request_with_a_fault_gets_a_problem_not_a_file(string? eventId, string query, int status, string type)
    {
        var answer = await app.AttendeesAsync(eventId ?? (await app.CreateEventAsync()).ToString(), query);

        Assert.Equal(status, answer.Status);
        Assert.Equal("application/problem+json", answer.ContentType);
        Assert.Equal("urn:eventregistration:problem:" + type, answer.ProblemType);
    }

    [Fact]
    public async Task Without_a_key_a_csv_request_is_401()
    {
        var answer = await app.AttendeesAsync((await app.CreateEventAsync()).ToString(), headers: AdminKeys.With("wrong"));

        Assert.Equal(401, answer.Status);
        Assert.Equal("application/problem+json", answer.ContentType);
    }
}

public sealed class AttendeesCsvPrincipalTests(TrustedPrincipalApp app) : IClassFixture<TrustedPrincipalApp>
{
    [Fact]
    public async Task A_signed_in_person_without_an_admin_role_is_403_and_an_organiser_gets_the_file()
    {
        var eventId = (await app.CreateEventAsync()).ToString();

        var guest = await app.AttendeesAsync(eventId, headers: AdminKeys.Principal("guest@example.org", "reader"));
        var organiser = await app.AttendeesAsync(eventId, headers: AdminKeys.Principal("asha@example.org", "organiser"));

        Assert.Equal(403, guest.Status);
        Assert.Equal("urn:eventregistration:problem:admin-forbidden", guest.ProblemType);
        Assert.Equal(200, organiser.Status);
        Assert.Empty(AttendeesCsvCalls.ParseCsv(organiser.Bytes));
    }
}
