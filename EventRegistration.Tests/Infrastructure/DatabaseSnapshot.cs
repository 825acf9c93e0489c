using Dapper;

namespace EventRegistration.Tests.Infrastructure;

/// <summary>A digest of every table's rows, to prove a refused request changed nothing.</summary>
public static class DatabaseSnapshot
{
    private static readonly string[] Tables =
        ["events", "members", "event_registrations", "payments", "webhook_inbox", "ticket_deliveries", "anomalies"];

    public static async Task<string> TakeAsync(TestApp app)
    {
        await using var connection = app.OpenConnection();
        var parts = new List<string>();
        foreach (var table in Tables)
        {
            parts.Add(table + ":" + await connection.ExecuteScalarAsync<string>(
                $"select coalesce(md5(string_agg(t::text, '|' order by t::text)), 'empty') from {table} t"));
        }

        return string.Join(",", parts);
    }
}
