using System.Security.Cryptography;
using System.Text;
using EventRegistration.Functions.Reconciliation;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Tickets;
using Microsoft.Extensions.DependencyInjection;

namespace EventRegistration.Tests.WhatsAppWebhooks;

/// <summary>The WhatsApp inbox's lifecycle after the request: the timer retries a stored body whose processing failed, and purges old bodies and numbers.</summary>
public sealed class WhatsAppInboxTests(TestApp app) : IClassFixture<TestApp>
{
    private Task<ReconciliationRunResult> RunAsync() =>
        app.Services.GetRequiredService<ReconciliationRunner>().RunAsync(false, CancellationToken.None);

    /// <summary>A body stored as the webhook stores it first, whose processing then failed (the request died after the insert).</summary>
    private async Task<byte[]> StoreUnprocessedAsync(string body)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var sha = SHA256.HashData(bytes);
        await app.ExecuteAsync("""
            insert into whatsapp_webhook_inbox (body_sha256, body, received_at, last_error)
            values (@sha, @bytes, @at, 'DependencyUnavailableException: the database connection was reset')
            """, new { sha, bytes, at = app.Clock.GetUtcNow().UtcDateTime });
        return sha;
    }

    [Fact]
    public async Task A_stored_body_whose_processing_failed_is_applied_by_the_timer_after_the_grace_period_and_a_redelivery_is_then_a_duplicate()
    {
        var (ticket, wamid) = await app.SentTicketAsync();
        var body = WhatsAppWebhookApi.Body(new MetaStatus(wamid, "delivered", WhatsAppWebhookApi.Epoch(DateTime.UtcNow)));
        var sha = await StoreUnprocessedAsync(body);

        // Within the grace period the body may still be in its own request: left alone.
        var early = await RunAsync();
        Assert.Equal(0, early.Count("whatsapp_inbox", "reprocessed"));
        Assert.Equal("", await app.ScalarAsync<string>("select coalesce(whatsapp_status, '') from ticket_deliveries where registration_id = @id", new { id = ticket.RegistrationId }));

        app.Clock.Advance(TimeSpan.FromMinutes(3));
        var run = await RunAsync();

        Assert.Equal(1, run.Count("whatsapp_inbox", "reprocessed"));
        Assert.Equal("delivered", await app.ScalarAsync<string>("select whatsapp_status from ticket_deliveries where registration_id = @id", new { id = ticket.RegistrationId }));
        var row = (await app.QueryAsync<(DateTime? ProcessedAt, string? LastError, int? Statuses)>(
            "select processed_at, last_error, statuses from whatsapp_webhook_inbox where body_sha256 = @sha", new { sha })).Single();
        Assert.NotNull(row.ProcessedAt);
        Assert.Null(row.LastError);
        Assert.Equal(1, row.Statuses);

        // Meta's redelivery of the same bytes now changes nothing.
        var redelivered = await app.WhatsAppStatusesAsync(body);
        Assert.Equal(200, redelivered.Status);
        Assert.Equal("duplicate", redelivered.Json.GetProperty("status").GetString());
        Assert.Equal(0, (await RunAsync()).Count("whatsapp_inbox", "reprocessed"));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_stored_body_that_no_longer_parses_is_settled_for_an_operator_not_retried_every_run()
    {
        var sha = await StoreUnprocessedAsync("""{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"statuses":[{"status":"sent","timestamp":"1"}]}}]}]}""");
        app.Clock.Advance(TimeSpan.FromMinutes(3));

        var run = await RunAsync();

        Assert.Equal(1, run.Count("whatsapp_inbox", "unprocessable"));
        Assert.StartsWith("unprocessable", await app.ScalarAsync<string>("select last_error from whatsapp_webhook_inbox where body_sha256 = @sha", new { sha }));
        Assert.Contains(await app.QueryAsync<string>("select detail from anomalies where kind = 'webhook_unprocessable'"), d => d.Contains(Convert.ToHexStringLower(sha)));
        Assert.Equal(0, (await RunAsync()).Count("whatsapp_inbox", "unprocessable"));
    }

    [Fact]
    public async Task Bodies_and_recipient_numbers_older_than_the_retention_are_purged_and_the_rest_kept()
    {
        var (old, oldWamid) = await app.SentTicketAsync();
        var oldBody = WhatsAppWebhookApi.Body(new MetaStatus(oldWamid, "delivered", WhatsAppWebhookApi.Epoch(DateTime.UtcNow), Recipient: old.Phone.TrimStart('+')));
        Assert.Equal(200, (await app.WhatsAppStatusesAsync(oldBody)).Status);
        var oldSha = SHA256.HashData(Encoding.UTF8.GetBytes(oldBody));

        app.Clock.Advance(TimeSpan.FromDays(31));
        var (recent, recentWamid) = await app.SentTicketAsync();
        var recentBody = WhatsAppWebhookApi.Body(new MetaStatus(recentWamid, "read", WhatsAppWebhookApi.Epoch(DateTime.UtcNow), Recipient: recent.Phone.TrimStart('+')));
        Assert.Equal(200, (await app.WhatsAppStatusesAsync(recentBody)).Status);

        var run = await RunAsync();

        Assert.True(run.Count("whatsapp_inbox", "bodies_purged") >= 1, string.Join(",", run.Summary["whatsapp_inbox"]));
        Assert.True(run.Count("whatsapp_inbox", "recipients_purged") >= 1);
        var purged = (await app.QueryAsync<(byte[]? Body, DateTime? PurgedAt)>(
            "select body, body_purged_at from whatsapp_webhook_inbox where body_sha256 = @oldSha", new { oldSha })).Single();
        Assert.Null(purged.Body);
        Assert.NotNull(purged.PurgedAt);
        Assert.Equal("", await app.ScalarAsync<string>("select coalesce(recipient_id, '') from whatsapp_statuses where wamid = @oldWamid", new { oldWamid }));
        Assert.NotNull(await app.ScalarAsync<byte[]>("select body from whatsapp_webhook_inbox where body_sha256 = @sha", new { sha = SHA256.HashData(Encoding.UTF8.GetBytes(recentBody)) }));
        Assert.Equal(recent.Phone.TrimStart('+'), await app.ScalarAsync<string>("select recipient_id from whatsapp_statuses where wamid = @recentWamid", new { recentWamid }));
        // The ticket's own view of the receipt is not personal data and stays.
        Assert.Equal("delivered", await app.ScalarAsync<string>("select whatsapp_status from ticket_deliveries where registration_id = @id", new { id = old.RegistrationId }));

        // A redelivery of a purged body is still recognised, and stores nothing again.
        var again = await app.WhatsAppStatusesAsync(oldBody);
        Assert.Equal("duplicate", again.Json.GetProperty("status").GetString());
        Assert.Null((await app.QueryAsync<byte[]?>("select body from whatsapp_webhook_inbox where body_sha256 = @oldSha", new { oldSha })).Single());
        await app.AssertAllAsync();
    }
}
