using EventRegistration.Functions.Admin.Lookup;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Admin;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Tickets;
using EventRegistration.Tests.WhatsAppWebhooks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MimeKit;
using SmtpServer.Protocol;

namespace EventRegistration.Tests.EmailFallback;

/// <summary>The app with the e-mail fallback pointed at a real SMTP server in this process, and every log line captured.</summary>
public sealed class EmailFallbackApp : TestApp
{
    public TestSmtpServer Smtp { get; } = new();

    public CapturingLoggerProvider Logs { get; } = new();

    public const string From = "tickets@example.org";

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["EmailFallback:Host"] = "127.0.0.1";
        settings["EmailFallback:Port"] = Smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["EmailFallback:Security"] = "None";
        settings["EmailFallback:UserName"] = TestSmtpServer.UserName;
        settings["EmailFallback:Password"] = TestSmtpServer.Password;
        settings["EmailFallback:From"] = $"Event Tickets <{From}>";
        settings["EmailFallback:TimeoutSeconds"] = "10";
    }

    protected override void ConfigureLogging(ILoggingBuilder logging)
    {
        logging.AddProvider(Logs);
        logging.AddFilter<CapturingLoggerProvider>(null, LogLevel.Trace);
    }

    public override async Task InitializeAsync()
    {
        Smtp.Start();
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Smtp.DisposeAsync();
    }
}

/// <summary>
/// A ticket WhatsApp cannot deliver (131026) goes to the member's e-mail address, once per ticket,
/// through a real SMTP exchange: the received message is parsed and its QR code decoded.
/// </summary>
public sealed class EmailFallbackTests(EmailFallbackApp app) : IClassFixture<EmailFallbackApp>
{
    private sealed record Fallback(string Status, int Attempts, DateTime? NextAttemptAt, string? LastError, DateTime? SentAt, string MessageId);

    private async Task<Fallback?> FallbackAsync(Guid registrationId) =>
        (await app.QueryAsync<Fallback>("""
            select status, attempts, next_attempt_at as nextattemptat, last_error as lasterror, sent_at as sentat, message_id as messageid
              from ticket_email_fallbacks where registration_id = @registrationId
            """, new { registrationId })).SingleOrDefault();

    /// <summary>A sent ticket whose member has an address of their own, so the SMTP server's mail can be told apart.</summary>
    private async Task<(PaidTicket Ticket, string Wamid, string Email)> SentTicketWithEmailAsync()
    {
        var (ticket, wamid) = await app.SentTicketAsync();
        var email = $"asha.{Guid.NewGuid():N}@example.org";
        await app.ExecuteAsync("update members set email = @email where id = (select member_id from event_registrations where id = @id)",
            new { email, id = ticket.RegistrationId });
        return (ticket, wamid, email);
    }

    private Task<HttpAnswer> UndeliverableAsync(string wamid, int secondsLater = 2) =>
        app.WhatsAppStatusesAsync(WhatsAppWebhookApi.Body(new MetaStatus(wamid, "failed", WhatsAppWebhookApi.Epoch(DateTime.UtcNow) + secondsLater,
            ErrorCode: 131026, ErrorTitle: "Message undeliverable")));

    /// <summary>
    /// A webhook as Meta delivers it: an answer other than 2xx is sent again. Under twenty
    /// concurrent copies a busy machine can make a copy wait on the first one's row lock past
    /// Postgres__LockTimeoutMilliseconds, and the app then answers 503 "try again" (its contract),
    /// having written nothing. Any other answer is returned as it is, to fail the test.
    /// </summary>
    private async Task<HttpAnswer> DeliveredAsMetaDoesAsync(string body)
    {
        for (var attempt = 1; ; attempt++)
        {
            var answer = await app.WhatsAppStatusesAsync(body);
            if (answer.Status != 503 || attempt == 5)
            {
                return answer;
            }

            await Task.Delay(200 * attempt);
        }
    }

    [Fact]
    public async Task An_undeliverable_ticket_is_emailed_exactly_once_under_twenty_concurrent_duplicate_failure_webhooks_with_the_signed_QR_attached()
    {
        var (ticket, wamid, email) = await SentTicketWithEmailAsync();
        var t0 = WhatsAppWebhookApi.Epoch(DateTime.UtcNow);
        var failed = new MetaStatus(wamid, "failed", t0 + 2, ErrorCode: 131026, ErrorTitle: "Message undeliverable");
        var identical = WhatsAppWebhookApi.Body(new MetaStatus(wamid, "sent", t0), failed);
        // Byte-different redeliveries of the same failure (another batch around it) as well as identical ones.
        var bodies = Enumerable.Range(0, 20).Select(i => i % 2 == 0 ? identical : WhatsAppWebhookApi.Body([failed], [new MetaStatus($"wamid.batch{i}", "sent", t0)])).ToList();

        var answers = await Task.WhenAll(bodies.Select(b => Task.Run(() => DeliveredAsMetaDoesAsync(b))));

        Assert.All(answers, a => Assert.True(a.Status == 200, a.ToString()));
        var claimed = await FallbackAsync(ticket.RegistrationId);
        Assert.NotNull(claimed);
        Assert.Equal("queued", claimed!.Status);
        var anomaly = Assert.Single(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_undeliverable");
        Assert.Contains("e-mail address instead", anomaly.Detail);

        // One message was enqueued after the commit; the host may hand it to several workers at once.
        var message = await app.TakeQueueMessageAsync(ticket.RegistrationId);
        Assert.True(TestApp.ParseQueueMessage(message)!.IsEmail, message);
        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => app.DeliverAsync(message))));

        var mail = Assert.Single(app.Smtp.To(email));
        var sent = await FallbackAsync(ticket.RegistrationId);
        Assert.Equal(("sent", 1), (sent!.Status, sent.Attempts));
        Assert.NotNull(sent.SentAt);

        // The message as the member's mail client sees it.
        Assert.Equal(TestSmtpServer.UserName, mail.User);
        Assert.Equal(EmailFallbackApp.From, mail.Message.From.Mailboxes.Single().Address);
        Assert.Equal(email, mail.Message.To.Mailboxes.Single().Address);
        Assert.Equal(sent.MessageId, mail.Message.MessageId);
        Assert.Contains("Test event", mail.Message.Subject);
        Assert.Contains(ticket.Name, mail.Message.TextBody);
        Assert.Contains("QR code", mail.Message.TextBody);
        var attachment = Assert.Single(mail.Message.Attachments.OfType<MimePart>());
        Assert.Equal("ticket.png", attachment.FileName);
        Assert.Equal("image/png", attachment.ContentType.MimeType);
        using var png = new MemoryStream();
        await attachment.Content!.DecodeToAsync(png);
        var token = TicketScenario.DecodeQr(png.ToArray());
        var check = await app.Services.GetRequiredService<TicketVerifier>().CheckAsync(token, CancellationToken.None);
        Assert.Equal(TicketVerdict.Valid, check.Verdict);
        Assert.Equal(new TicketClaims(ticket.RegistrationId, ticket.EventId), check.Claims);

        // A later failure of the same ticket (another resend's wamid) claims nothing more.
        await app.ExecuteAsync("update ticket_deliveries set wamid = 'wamid.second-try' where registration_id = @id", new { id = ticket.RegistrationId });
        Assert.Equal(200, (await UndeliverableAsync("wamid.second-try")).Status);
        await app.DeliverAsync(message);
        Assert.Single(app.Smtp.To(email));
        Assert.Contains(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_undeliverable" && a.Detail.Contains("not again"));

        // The operator's look-up shows the e-mail beside the WhatsApp attempt, without the address.
        var request = TestApp.Request("", AdminKeys.With(AdminKeys.Operator));
        request.Method = "GET";
        request.QueryString = new Microsoft.AspNetCore.Http.QueryString($"?registrationId={ticket.RegistrationId}");
        var lookup = await TestApp.ExecuteAsync(request, await app.Function<RegistrationLookupFunction>().AdminLookupRegistration(request));
        Assert.Equal(200, lookup.Status);
        var history = lookup.Json.GetProperty("history").EnumerateArray().Select(h => h.GetProperty("what").GetString()).ToList();
        Assert.Contains("ticket_sent", history);
        Assert.Contains("ticket_email_claimed", history);
        Assert.Contains("ticket_email_sent", history);
        Assert.DoesNotContain(email, lookup.Body);

        AssertLogsClean(email, ticket.Phone);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task With_the_SMTP_server_down_the_email_is_retried_on_schedule_and_sent_once()
    {
        var (ticket, wamid, email) = await SentTicketWithEmailAsync();
        await app.Smtp.StopAsync();
        try
        {
            Assert.Equal(200, (await UndeliverableAsync(wamid)).Status);
            var message = await app.TakeQueueMessageAsync(ticket.RegistrationId);
            var queuedBefore = await app.MessagesOnQueueAsync();

            await app.DeliverAsync(message);

            var waiting = await FallbackAsync(ticket.RegistrationId);
            Assert.Equal(("queued", 1), (waiting!.Status, waiting.Attempts));
            Assert.NotNull(waiting.NextAttemptAt);
            Assert.Contains("smtp_unreachable", waiting.LastError);
            Assert.Equal(queuedBefore + 1, await app.MessagesOnQueueAsync());
            Assert.DoesNotContain(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_email_failed");

            // A copy of the message before the scheduled attempt does nothing.
            await app.DeliverAsync(message);
            Assert.Equal(1, (await FallbackAsync(ticket.RegistrationId))!.Attempts);
        }
        finally
        {
            app.Smtp.Start();
        }

        await app.AdvanceToNextAttemptAsync(ticket.RegistrationId, emailFallback: true);
        var retry = TicketDeliveryMessage.Email(ticket.RegistrationId).ToJson();
        await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => Task.Run(() => app.DeliverAsync(retry))));

        Assert.Single(app.Smtp.To(email));
        var sent = await FallbackAsync(ticket.RegistrationId);
        Assert.Equal(("sent", 2), (sent!.Status, sent.Attempts));
        AssertLogsClean(email, ticket.Phone);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task A_try_later_reply_is_retried_and_a_refused_address_fails_with_an_anomaly()
    {
        var (ticket, wamid, email) = await SentTicketWithEmailAsync();
        Assert.Equal(200, (await UndeliverableAsync(wamid)).Status);
        var message = await app.TakeQueueMessageAsync(ticket.RegistrationId);

        app.Smtp.RefuseNext(1, SmtpReplyCode.Overloaded, $"Mailbox of {email} busy, try later");
        await app.DeliverAsync(message);
        var later = await FallbackAsync(ticket.RegistrationId);
        Assert.Equal(("queued", 1), (later!.Status, later.Attempts));
        Assert.Contains("smtp_try_later", later.LastError);
        Assert.DoesNotContain(email, later.LastError);

        app.Smtp.RefuseNext(1, SmtpReplyCode.MailboxUnavailable, $"{email}: no such mailbox");
        await app.AdvanceToNextAttemptAsync(ticket.RegistrationId, emailFallback: true);
        await app.DeliverAsync(message);
        var failed = await FallbackAsync(ticket.RegistrationId);
        Assert.Equal(("failed", 2), (failed!.Status, failed.Attempts));
        Assert.Contains("smtp_message_refused", failed.LastError);
        var anomaly = Assert.Single(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_email_failed");
        Assert.DoesNotContain(email, anomaly.Detail);
        Assert.Empty(app.Smtp.To(email));
        AssertLogsClean(email, ticket.Phone);
    }

    [Fact]
    public async Task A_member_without_an_email_address_gets_an_anomaly_and_no_email()
    {
        var (ticket, wamid) = await app.SentTicketAsync();
        await app.ExecuteAsync("update members set email = null where id = (select member_id from event_registrations where id = @id)", new { id = ticket.RegistrationId });

        Assert.Equal(200, (await UndeliverableAsync(wamid)).Status);

        Assert.Null(await FallbackAsync(ticket.RegistrationId));
        var anomaly = Assert.Single(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_undeliverable");
        Assert.Contains("no e-mail address on record", anomaly.Detail);
        Assert.Throws<Xunit.Sdk.XunitException>(() => app.TakeQueueMessageAsync(ticket.RegistrationId).GetAwaiter().GetResult());
    }

    [Fact]
    public async Task A_stuck_fallback_whose_message_was_lost_is_requeued_by_the_reconciliation_and_sent_once()
    {
        var (ticket, wamid, email) = await SentTicketWithEmailAsync();
        Assert.Equal(200, (await UndeliverableAsync(wamid)).Status);
        // The message is lost (as if the enqueue after the commit had failed).
        await app.TakeQueueMessageAsync(ticket.RegistrationId);

        app.Clock.Advance(TimeSpan.FromMinutes(16));
        var run = await app.Services.GetRequiredService<EventRegistration.Functions.Reconciliation.ReconciliationRunner>().RunAsync(false, CancellationToken.None);
        Assert.Equal(1, run.Count("email_fallbacks", "requeued"));

        await app.DeliverAsync(await app.TakeQueueMessageAsync(ticket.RegistrationId));
        Assert.Single(app.Smtp.To(email));
        Assert.Equal("sent", (await FallbackAsync(ticket.RegistrationId))!.Status);
    }

    [Fact]
    public async Task A_queued_email_whose_refund_an_operator_asked_for_meanwhile_is_withheld_and_not_requeued()
    {
        var (ticket, wamid, email) = await SentTicketWithEmailAsync();
        Assert.Equal(200, (await UndeliverableAsync(wamid)).Status);
        var message = await app.TakeQueueMessageAsync(ticket.RegistrationId);
        Assert.Equal(202, (await app.RefundRegistrationAsync(ticket.RegistrationId)).Status);

        await app.DeliverAsync(message);

        Assert.Empty(app.Smtp.To(email));
        var withheld = await FallbackAsync(ticket.RegistrationId);
        Assert.Equal(("withheld", 0), (withheld!.Status, withheld.Attempts));
        Assert.Contains("refund", withheld.LastError);
        Assert.DoesNotContain(await app.AnomaliesAsync(ticket.RegistrationId), a => a.Kind == "ticket_email_failed");

        // Long after, the reconciliation finds nothing to send again.
        app.Clock.Advance(TimeSpan.FromMinutes(20));
        var run = await app.Services.GetRequiredService<EventRegistration.Functions.Reconciliation.ReconciliationRunner>().RunAsync(false, CancellationToken.None);
        Assert.Equal(0, run.Count("email_fallbacks", "requeued"));
        await app.DeliverAsync(message);
        Assert.Empty(app.Smtp.To(email));
        await app.AssertAllAsync();
    }

    private void AssertLogsClean(params string[] forbidden)
    {
        var all = forbidden.Append(TestSmtpServer.Password).ToList();
        foreach (var line in app.Logs.Lines)
        {
            foreach (var text in line.Texts)
            {
                foreach (var secret in all)
                {
                    Assert.False(text.Contains(secret, StringComparison.OrdinalIgnoreCase), $"{line.Category} logged '{secret}': {text}");
                }
            }
        }
    }
}
