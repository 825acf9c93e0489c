using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Admin;

public sealed class AdminAnomaliesTests(TestApp app) : IClassFixture<TestApp>
{
    private async Task<long> RecordAsync(AnomalyKind kind, Guid? eventId, string detail = "something to look at")
    {
        await using var connection = app.OpenConnection();
        await AnomalyLog.RecordAsync(connection, null, new Anomaly(kind, detail, eventId), DateTime.UtcNow);
        return await connection.ExecuteScalarAsync<long>("select max(id) from anomalies");
    }

    [Fact]
    public async Task Open_anomalies_are_listed_by_kind_and_event_in_keyset_pages()
    {
        var eventId = await app.CreateEventAsync();
        var mine = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            mine.Add(await RecordAsync(AnomalyKind.RefundFailed, eventId, $"refund {i} failed"));
        }

        await RecordAsync(AnomalyKind.CountDrift, eventId);
        await RecordAsync(AnomalyKind.RefundFailed, await app.CreateEventAsync());
        await app.ExecuteAsync("update anomalies set resolved_at = now() where id = @id", new { id = mine[2] });

        var seen = new List<long>();
        string query = $"?kind=refund_failed&eventId={eventId}&limit=2";
        HttpAnswer page;
        do
        {
            page = await app.ListAnomaliesAsync(query);
            Assert.Equal(200, page.Status);
            seen.AddRange(page.Json.GetProperty("anomalies").EnumerateArray().Select(a => a.GetProperty("id").GetInt64()));
            query = !page.Json.TryGetProperty("nextAfter", out var next) ? "" : $"?kind=refund_failed&eventId={eventId}&limit=2&after={next.GetInt64()}";
        }
        while (query.Length > 0);

        Assert.Equal(mine.Where((_, i) => i != 2), seen);
    }

    [Theory]
    [InlineData("?kind=nonsense", "kind")]
    [InlineData("?eventId=123", "eventId")]
    [InlineData("?after=-1", "after")]
    [InlineData("?limit=0", "limit")]
    [InlineData("?limit=501", "limit")]
    public async Task Bad_filters_are_400_naming_the_parameter(string query, string field)
    {
        var answer = await app.ListAnomaliesAsync(query);

        Assert.Equal(400, answer.Status);
        Assert.Equal(field, answer.Json.GetProperty("field").GetString());
    }

    [Fact]
    public async Task Anomalies_are_for_operators_only()
    {
        var id = await RecordAsync(AnomalyKind.CountDrift, null);

        Assert.Equal(401, (await app.ListAnomaliesAsync("", key: null)).Status);
        Assert.Equal(403, (await app.ListAnomaliesAsync("", key: AdminKeys.Organiser)).Status);
        Assert.Equal(401, (await app.ResolveAnomalyAsync(id.ToString(), """{"note":"x"}""", key: "wrong")).Status);
        var forbidden = await app.ResolveAnomalyAsync(id.ToString(), """{"note":"x"}""", key: AdminKeys.Organiser);
        Assert.Equal(403, forbidden.Status);
        Assert.Equal("urn:eventregistration:problem:admin-forbidden", forbidden.ProblemType);
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from anomalies where id = @id and resolved_at is null", new { id }));
    }

    [Fact]
    public async Task Resolving_records_the_note_and_who_and_audits_it_once()
    {
        var id = await RecordAsync(AnomalyKind.RefundFailed, null);

        var answer = await app.ResolveAnomalyAsync(id.ToString(), """{"note":"Refunded by hand in the Razorpay Dashboard"}""");
        var again = await app.ResolveAnomalyAsync(id.ToString(), """{"note":"again"}""");

        Assert.Equal(200, answer.Status);
        Assert.Equal("Refunded by hand in the Razorpay Dashboard", answer.Json.GetProperty("resolutionNote").GetString());
        Assert.Equal(409, again.Status);
        Assert.Equal("urn:eventregistration:problem:anomaly-already-resolved", again.ProblemType);
        var stored = (await app.QueryAsync<(string Note, string By)>(
            "select resolution_note, resolved_by from anomalies where id = @id", new { id })).Single();
        Assert.Equal(("Refunded by hand in the Razorpay Dashboard", "key:" + AdminKeys.Hash(AdminKeys.Operator)[..12]), stored);
        var audit = (await app.QueryAsync<(string Before, string After)>(
            "select before::text, after::text from admin_audit where entity_id = @entity and action = 'anomaly.resolve'",
            new { entity = "anomaly:" + id })).Single();
        Assert.Contains("\"resolvedAt\"", audit.After);
        Assert.DoesNotContain("\"resolvedAt\"", audit.Before);
        Assert.DoesNotContain((await app.ListAnomaliesAsync("?kind=refund_failed")).Json.GetProperty("anomalies").EnumerateArray(),
            a => a.GetProperty("id").GetInt64() == id);
    }

    [Theory]
    [InlineData("abc", """{"note":"x"}""", "anomalyId")]
    [InlineData("0", """{"note":"x"}""", "anomalyId")]
    [InlineData("1", "{}", "note")]
    [InlineData("1", """{"note":"   "}""", "note")]
    [InlineData("1", """{"note":5}""", "note")]
    public async Task Bad_resolutions_are_400_naming_the_field(string id, string body, string field)
    {
        var answer = await app.ResolveAnomalyAsync(id, body);

        Assert.Equal(400, answer.Status);
        Assert.Equal(field, answer.Json.GetProperty("field").GetString());
    }

    [Fact]
    public async Task Resolving_an_unknown_anomaly_is_404()
    {
        Assert.Equal(404, (await app.ResolveAnomalyAsync("999999999", """{"note":"x"}""")).Status);
    }
}
