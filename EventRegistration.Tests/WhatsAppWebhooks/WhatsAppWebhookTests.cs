using System.Text;
using EventRegistration.Functions.WhatsAppWebhooks;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;
using EventRegistration.Tests.Tickets;

namespace EventRegistration.Tests.WhatsAppWebhooks;

/// <summary>Meta's webhook: the handshake, the signature, and each status's stored effect, checked by SQL.</summary>
public sealed class WhatsAppWebhookTests(TestApp app) : IClassFixture<TestApp>
{
    private sealed record Receipt(string? WhatsAppStatus, DateTime? WhatsAppSentAt, DateTime? DeliveredAt, DateTime? ReadAt, DateTime? WhatsAppFailedAt, int? WhatsAppErrorCode);

    private Task<Receipt> ReceiptAsync(Guid registrationId) =>
        app.QueryAsync<Receipt>("""
            select whatsapp_status as whatsappstatus, whatsapp_sent_at as whatsappsentat, delivered_at as deliveredat, read_at as readat,
                   whatsapp_failed_at as whatsappfailedat, whatsapp_error_code as whatsapperrorcode
              from ticket_deliveries where registration_id = @registrationId
            """, new { registrationId }).ContinueWith(t => t.Result.Single());

    [Fact]
    public async Task The_verification_handshake_echoes_the_challenge_only_for_our_verify_token()
    {
        var ok = await app.WhatsAppVerifyAsync($"?hub.mode=subscribe&hub.verify_token={FakeWhatsApp.VerifyToken}&hub.challenge=1158201444");
        Assert.Equal(200, ok.Status);
        Assert.StartsWith("text/plain", ok.ContentType);
        Assert.Equal("1158201444", ok.Body);

        var wrong = await app.WhatsAppVerifyAsync("?hub.mode=subscribe&hub.verify_token=not-our-token-at-all&hub.challenge=1158201444");
        Assert.Equal(403, wrong.Status);
        Assert.Equal("application/problem+json", wrong.ContentType);
        Assert.EndsWith(":verify-token-invalid", wrong.ProblemType);
        Assert.DoesNotContain("1158201444", wrong.Body);

        var missingToken = await app.WhatsAppVerifyAsync("?hub.mode=subscribe&hub.challenge=1158201444");
        Assert.Equal(403, missingToken.Status);

        var badMode = await app.WhatsAppVerifyAsync($"?hub.mode=unsubscribe&hub.verify_token={FakeWhatsApp.VerifyToken}&hub.challenge=1");
        Assert.Equal(400, badMode.Status);
        Assert.Equal("hub.mode", badMode.Json.GetProperty("field").GetString());

        var noChallenge = await app.WhatsAppVerifyAsync($"?hub.mode=subscribe&hub.verify_token={FakeWhatsApp.VerifyToken}");
        Assert.Equal(400, noChallenge.Status);
        Assert.Equal("hub.challenge", noChallenge.Json.GetProperty("field").GetString());

        var script = await app.WhatsAppVerifyAsync($"?hub.mode=subscribe&hub.verify_token={FakeWhatsApp.VerifyToken}&hub.challenge=%3Cscript%3E");
        Assert.Equal(400, script.Status);
    }

    [Fact]
    public async Task A_body_with_a_bad_or_missing_signature_is_refused_and_nothing_is_stored()
    {
        var (ticket, wamid) = await app.SentTicketAsync();
        var body = WhatsAppWebhookApi.Body(new MetaStatus(wamid, "delivered", WhatsAppWebhookApi.Epoch(DateTime.UtcNow)));
        var bytes = Encoding.UTF8.GetBytes(body);
        var before = await app.ScalarAsync<long>("select count(*) from whatsapp_webhook_inbox");

        var wrongSecret = await app.WhatsAppStatusesAsync(body, MetaSignature.Compute(bytes, "another-app-secret"));
        Assert.Equal(401, wrongSecret.Status);
        Assert.EndsWith(":signature-invalid", wrongSecret.ProblemType);

        // The hex alone, without "sha256=", is not Meta's format.
        var bare = await app.WhatsAppStatusesAsync(body, MetaSignature.Compute(bytes, FakeWhatsApp.AppSecret)["sha256=".Length..]);
        Assert.Equal(401, bare.Status);

        // A signature over other bytes (the same JSON re-serialised with a space) does not match.
        var reformatted = await app.WhatsAppStatusesAsync(body.Replace("{\"object\"", "{ \"object\""), MetaSignature.Compute(bytes, FakeWhatsApp.AppSecret));
        Assert.Equal(401, reformatted.Status);

        var missing = await app.WhatsAppWebhookRawAsync(bytes, new Dictionary<string, string[]>());
        Assert.Equal(401, missing.Status);
        Assert.EndsWith(":signature-missing", missing.ProblemType);

        Assert.Equal(before, await app.ScalarAsync<long>("select count(*) from whatsapp_webhook_inbox"));
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from whatsapp_statuses where wamid = @wamid", new { wamid }));
        Assert.Null((await ReceiptAsync(ticket.RegistrationId)).WhatsAppStatus);
    }

    [Fact]
    public async Task Several_statuses_out_of_order_in_one_body_end_at_read_with_each_time_kept()
    {
        var (ticket, wamid) = await app.SentTicketAsync();
        var t0 = WhatsAppWebhookApi.Epoch(DateTime.UtcNow);
        // Read first, then sent, then delivered, split over two changes: as Meta may batch them.
        var body = WhatsAppWebhookApi.Body(
            [new MetaStatus(wamid, "read", t0 + 20)],
            [new MetaStatus(wamid, "sent", t0), new MetaStatus(wamid, "delivered", t0 + 5)]);

        var answer = await app.WhatsAppStatusesAsync(body);

        Assert.True(answer.Status == 200, answer.ToString());
        Assert.Equal("processed", answer.Json.GetProperty("status").GetString());
        Assert.Equal(3, answer.Json.GetProperty("newStatuses").GetInt32());
        var receipt = await ReceiptAsync(ticket.RegistrationId);
        Assert.Equal("read", receipt.WhatsAppStatus);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(t0).UtcDateTime, receipt.WhatsAppSentAt);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(t0 + 5).UtcDateTime, receipt.DeliveredAt);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(t0 + 20).UtcDateTime, receipt.ReadAt);
        Assert.Equal(3, await app.ScalarAsync<long>("select count(*) from whatsapp_statuses where wamid = @wamid and registration_id = @id",
            new { wamid, id = ticket.RegistrationId }));

        // A late 'delivered' in another body (another time, so other bytes) undoes nothing.
        var late = await app.WhatsAppStatusesAsync(WhatsAppWebhookApi.Body(new MetaStatus(wamid, "delivered", t0 + 60)));
        Assert.Equal(200, late.Status);
        Assert.Equal(0, late.Json.GetProperty("newStatuses").GetInt32());
        Assert.Equal(receipt, await ReceiptAsync(ticket.RegistrationId));
        Assert.Equal("sent", (await app.DeliveryAsync(ticket.RegistrationId)).Status);
    }

    [Fact]
    public async Task A_delivered_before_sent_leaves_delivered()
    {
        var (ticket, wamid) = await app.SentTicketAsync();
        var t0 = WhatsAppWebhookApi.Epoch(DateTime.UtcNow);
        Assert.Equal(200, (await app.WhatsAppStatusesAsync(WhatsAppWebhookApi.Body(new MetaStatus(wamid, "delivered", t0 + 3)))).Status);
        Assert.Equal(200, (await app.WhatsAppStatusesAsync(WhatsAppWebhookApi.Body(new MetaStatus(wamid, "sent", t0)))).Status);

        var receipt = await ReceiptAsync(ticket.RegistrationId);
        Assert.Equal("delivered", receipt.WhatsAppStatus);
        Assert.NotNull(receipt.WhatsAppSentAt);
        Assert.Null(receipt.ReadAt);
    }

    [Fact]
    public async Task A_duplicate_delivery_is_acknowledged_and_changes_nothing()
    {
        var (ticket, wamid) = await app.SentTicketAsync();
        var body = WhatsAppWebhookApi.Body(new MetaStatus(wamid, "delivered", WhatsAppWebhookApi.Epoch(DateTime.UtcNow)));

        var first = await app.WhatsAppStatusesAsync(body);
        var receipt = await ReceiptAsync(ticket.RegistrationId);
        var second = await app.WhatsAppStatusesAsync(body);

        Assert.Equal("processed", first.Json.GetProperty("status").GetString());
        Assert.Equal(200, second.Status);
        Assert.Equal("duplicate", second.Json.GetProperty("status").GetString());
        Assert.Equal(receipt, await ReceiptAsync(ticket.RegistrationId));
        var sha = System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(body));
        Assert.Equal(2, await app.ScalarAsync<int>("select delivery_count from whatsapp_webhook_inbox where body_sha256 = @sha", new { sha }));
        Assert.Equal(Encoding.UTF8.GetBytes(body), await app.ScalarAsync<byte[]>("select body from whatsapp_webhook_inbox where body_sha256 = @sha", new { sha }));
        Assert.Equal(1, await app.ScalarAsync<long>("select count(*) from whatsapp_statuses where wamid = @wamid", new { wamid }));
    }

    [Fact]
    public async Task A_status_for_a_message_we_never_sent_is_recorded_for_an_operator_not_refused()
    {
        var wamid = "wamid.HBgLOTE5ODEyMzQ1Njc4FQIAERgSNEVERUZGQkNCQkMwQTlCOEQ0AA==";
        var t0 = WhatsAppWebhookApi.Epoch(DateTime.UtcNow);

        var answer = await app.WhatsAppStatusesAsync(WhatsAppWebhookApi.Body(new MetaStatus(wamid, "sent", t0), new MetaStatus(wamid, "delivered", t0 + 1)));

        Assert.True(answer.Status == 200, answer.ToString());
        var rows = await app.QueryAsync<(string Status, Guid? RegistrationId)>(
            "select status, registration_id from whatsapp_statuses where wamid = @wamid order by status", new { wamid });
        Assert.Equal([("delivered", (Guid?)null), ("sent", null)], rows);
        var anomalies = await app.QueryAsync<string>("select detail from anomalies where kind = 'whatsapp_status_unknown_message' and detail like '%' || @wamid || '%'", new { wamid });
        Assert.Single(anomalies);
    }

    [Fact]
    public async Task An_undeliverable_number_fails_the_receipt_and_becomes_one_anomaly_under_concurrent_duplicates()
    {
        var (ticket, wamid) = await app.SentTicketAsync();
        var t0 = WhatsAppWebhookApi.Epoch(DateTime.UtcNow);
        var failed = new MetaStatus(wamid, "failed", t0 + 2, ErrorCode: 131026, ErrorTitle: "Message undeliverable");
        var identical = WhatsAppWebhookApi.Body(new MetaStatus(wamid, "sent", t0), failed);
        // Redeliveries that differ in bytes (another batch around the same failure) must dedupe on the status too.
        var bodies = Enumerable.Range(0, 12).Select(i => i % 2 == 0 ? identical : WhatsAppWebhookApi.Body([failed], [new MetaStatus($"wamid.other{i}", "sent", t0)])).ToList();

        var answers = await Task.WhenAll(bodies.Select(b => Task.Run(() => app.WhatsAppStatusesAsync(b))));

        Assert.All(answers, a => Assert.True(a.Status == 200, a.ToString()));
        var receipt = await ReceiptAsync(ticket.RegistrationId);
        Assert.Equal("failed", receipt.WhatsAppStatus);
        Assert.Equal(131026, receipt.WhatsAppErrorCode);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(t0 + 2).UtcDateTime, receipt.WhatsAppFailedAt);
        Assert.Equal("invalid_recipient", await app.ScalarAsync<string>(
            "select failure_class from whatsapp_statuses where wamid = @wamid and status = 'failed'", new { wamid }));
        var anomalies = await app.QueryAsync<string>("select detail from anomalies where kind = 'ticket_undeliverable' and registration_id = @id",
            new { id = ticket.RegistrationId });
        var anomaly = Assert.Single(anomalies);
        Assert.Contains("131026", anomaly);
        Assert.Contains("no e-mail fallback is configured", anomaly);
        // The ticket's own state machine is not moved: it was sent; the receipt says it did not arrive.
        Assert.Equal("sent", (await app.DeliveryAsync(ticket.RegistrationId)).Status);
        await app.AssertAllAsync();
    }

    [Theory]
    [InlineData(132015, "ticket_delivery_failed", "template_paused")]
    [InlineData(190, "ticket_delivery_failed", "access_token_invalid")]
    [InlineData(131047, "ticket_delivery_failed", "reengagement_required")]
    [InlineData(131056, "ticket_delivery_failed", "rate_limited")]
    [InlineData(131000, "ticket_delivery_failed", "other")]
    public async Task A_failed_status_is_classified_and_told_to_an_operator(int code, string kind, string category)
    {
        var (ticket, wamid) = await app.SentTicketAsync();

        var answer = await app.WhatsAppStatusesAsync(WhatsAppWebhookApi.Body(
            new MetaStatus(wamid, "failed", WhatsAppWebhookApi.Epoch(DateTime.UtcNow), ErrorCode: code, ErrorTitle: "Some WhatsApp reason")));

        Assert.True(answer.Status == 200, answer.ToString());
        Assert.Equal(category, await app.ScalarAsync<string>("select failure_class from whatsapp_statuses where wamid = @wamid", new { wamid }));
        var detail = Assert.Single(await app.QueryAsync<string>("select detail from anomalies where kind = @kind and registration_id = @id",
            new { kind, id = ticket.RegistrationId }));
        Assert.Contains(category, detail);
        Assert.Contains("Some WhatsApp reason", detail);
        // Template and token trouble put every further send on hold, with one anomaly that says so.
        var held = await app.QueryAsync<string>("select category from whatsapp_sending_holds where released_at is null");
        Assert.Equal(category is "template_paused" or "access_token_invalid" ? [category] : [], held);
        if (held.Count > 0)
        {
            Assert.Contains(await app.QueryAsync<string>("select detail from anomalies where kind = 'whatsapp_sending_blocked' and registration_id = @id",
                new { id = ticket.RegistrationId }), d => d.Contains("on hold"));
        }
    }

    [Theory]
    [InlineData("{\"object\":\"whatsapp_business_account\"}", "entry")]
    [InlineData("{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{\"value\":{\"statuses\":[{\"status\":\"sent\",\"timestamp\":\"1\"}]}}]}]}", "entry[0].changes[0].value.statuses[0].id")]
    [InlineData("{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{\"value\":{\"statuses\":[{\"id\":\"wamid.X\",\"status\":\"sent\",\"timestamp\":\"soon\"}]}}]}]}", "entry[0].changes[0].value.statuses[0].timestamp")]
    [InlineData("{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{\"value\":{\"statuses\":[{\"id\":\"wamid.\\u0000\",\"status\":\"sent\",\"timestamp\":\"1\"}]}}]}]}", "entry[0].changes[0].value.statuses[0].id")]
    public async Task A_signed_body_of_the_wrong_shape_is_a_400_naming_the_field_and_stores_nothing(string body, string field)
    {
        var before = await app.ScalarAsync<long>("select count(*) from whatsapp_webhook_inbox");
        var answer = await app.WhatsAppStatusesAsync(body);
        Assert.Equal(400, answer.Status);
        Assert.Equal(field, answer.Json.GetProperty("field").GetString());
        Assert.Equal(before, await app.ScalarAsync<long>("select count(*) from whatsapp_webhook_inbox"));
    }

    [Fact]
    public async Task Inbound_messages_and_untracked_statuses_are_stored_and_acknowledged()
    {
        var body = """
            {"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"value":{"messaging_product":"whatsapp",
             "messages":[{"from":"919812345678","id":"wamid.IN1","timestamp":"1764000000","type":"text","text":{"body":"hi"}}],
             "statuses":[{"id":"wamid.Z","status":"deleted","timestamp":"1764000000"}]},"field":"messages"}]}]}
            """;
        var answer = await app.WhatsAppStatusesAsync(body);
        Assert.True(answer.Status == 200, answer.ToString());
        Assert.Equal(0, answer.Json.GetProperty("statuses").GetInt32());
        Assert.Equal(0, await app.ScalarAsync<long>("select count(*) from whatsapp_statuses where wamid in ('wamid.Z', 'wamid.IN1')"));
    }

    [Fact]
    public async Task A_sent_ticket_without_a_delivery_receipt_is_listed_once_and_not_resent()
    {
        var (late, _) = await app.SentTicketAsync();
        var (delivered, deliveredWamid) = await app.SentTicketAsync();
        await app.WhatsAppStatusesAsync(WhatsAppWebhookApi.Body(new MetaStatus(deliveredWamid, "delivered", WhatsAppWebhookApi.Epoch(DateTime.UtcNow))));
        var sends = app.WhatsApp.Sent.Count;

        var early = await app.ReconcileAsync();
        Assert.Equal(0, early.Count("undelivered_tickets", "reported"));

        app.Clock.Advance(TimeSpan.FromMinutes(61));
        var run = await app.ReconcileAsync();
        Assert.True(run.Count("undelivered_tickets", "reported") >= 1, run.ToString());
        var again = await app.ReconcileAsync();
        Assert.Equal(0, again.Count("undelivered_tickets", "reported"));

        Assert.Single(await app.QueryAsync<string>("select detail from anomalies where kind = 'ticket_not_delivered' and registration_id = @id", new { id = late.RegistrationId }));
        Assert.Empty(await app.QueryAsync<string>("select detail from anomalies where kind = 'ticket_not_delivered' and registration_id = @id", new { id = delivered.RegistrationId }));
        Assert.Equal(sends, app.WhatsApp.Sent.Count);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_receipt_that_came_before_its_wamid_was_recorded_is_attached_later_and_the_ticket_is_not_listed_as_undelivered()
    {
        // Meta's 'delivered' can overtake the send's own answer: the status finds no ticket yet.
        var (ticket, recordedWamid) = await app.SentTicketAsync();
        var early = "wamid.EARLY" + Guid.NewGuid().ToString("N");
        var t0 = WhatsAppWebhookApi.Epoch(DateTime.UtcNow);
        await app.ExecuteAsync("update ticket_deliveries set wamid = null, status = 'sending', sent_at = null where registration_id = @id", new { id = ticket.RegistrationId });
        Assert.Equal(200, (await app.WhatsAppStatusesAsync(WhatsAppWebhookApi.Body(new MetaStatus(early, "delivered", t0 + 1)))).Status);
        // ... then the wamid is recorded (the ticket's MarkSent commits).
        await app.ExecuteAsync("update ticket_deliveries set wamid = @early, status = 'sent', sent_at = now() where registration_id = @id",
            new { early, id = ticket.RegistrationId });
        Assert.NotEqual(early, recordedWamid);

        app.Clock.Advance(TimeSpan.FromMinutes(61));
        await app.ReconcileAsync();

        var receipt = await ReceiptAsync(ticket.RegistrationId);
        Assert.Equal("delivered", receipt.WhatsAppStatus);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(t0 + 1).UtcDateTime, receipt.DeliveredAt);
        Assert.Equal(ticket.RegistrationId, await app.ScalarAsync<Guid>("select registration_id from whatsapp_statuses where wamid = @early", new { early }));
        Assert.Empty(await app.QueryAsync<string>("select detail from anomalies where kind = 'ticket_not_delivered' and registration_id = @id", new { id = ticket.RegistrationId }));
    }

    [Theory]
    [InlineData("WhatsAppWebhook:VerifyToken", "")]
    [InlineData("WhatsAppWebhook:VerifyToken", "short")]
    [InlineData("WhatsAppWebhook:AppSecret", "")]
    [InlineData("WhatsAppWebhook:UndeliveredAfterMinutes", "1")]
    [InlineData("WhatsAppWebhook:UndeliveredAfterMinutes", "soon")]
    public async Task A_webhook_setting_missing_or_malformed_stops_start_up_naming_it(string key, string value)
    {
        var message = await app.StartUpFailureWithAsync(key, value);
        Assert.Contains(key.Replace(":", "__", StringComparison.Ordinal), message);
    }
}
