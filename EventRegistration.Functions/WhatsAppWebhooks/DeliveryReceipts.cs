using System.Security.Cryptography;
using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.EmailFallback;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Tickets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace EventRegistration.Functions.WhatsAppWebhooks;

/// <summary>What became of one stored WhatsApp webhook body.</summary>
public sealed record ReceiptsApplied(bool Duplicate, int NewStatuses, int Statuses);

/// <summary>
/// The one owner of <c>whatsapp_webhook_inbox</c> and <c>whatsapp_statuses</c>:
/// <code>
/// body verified ──► stored (by its SHA-256; a redelivery only counts) ──► statuses applied, processed_at set (one transaction)
///    (a failure leaves it stored and unprocessed; Meta's redelivery of the same bytes or the timer processes it then)
/// processed ──► body purged after WhatsAppWebhook:InboxRetentionDays, and the statuses' recipient numbers with it
/// each status ──► whatsapp_statuses (wamid, status) once ──► the ticket's view, anomalies for failures
/// </code>
/// A status is acted on only by the transaction that inserted its (wamid, status) row, so
/// duplicate and concurrent deliveries change nothing and record no anomaly twice. An undeliverable
/// number claims the ticket's e-mail fallback in that transaction (<see cref="TicketEmailFallbacks.ClaimAsync"/>),
/// whose message is put on the ticket queue after the commit.
/// </summary>
public sealed class DeliveryReceipts(
    Database database,
    TicketQueue queue,
    IOptions<EmailFallbackOptions> email,
    TimeProvider clock,
    ILogger<DeliveryReceipts> logger)
{
    private const string StoreSql = """
        insert into whatsapp_webhook_inbox (body_sha256, body, received_at)
        values (@Sha, @Body, @Now)
        on conflict (body_sha256) do update set delivery_count = whatsapp_webhook_inbox.delivery_count + 1
        returning processed_at is not null
        """;

    private const string InsertStatusSql = """
        insert into whatsapp_statuses (wamid, status, occurred_at, recipient_id, error_code, error_title, error_detail, failure_class, received_at)
        values (@Wamid, @Status, @OccurredAt, @RecipientId, @ErrorCode, @ErrorTitle, @ErrorDetail, @FailureClass, @Now)
        on conflict (wamid, status) do nothing
        """;

    private const string LinkStatusSql = "update whatsapp_statuses set registration_id = @RegistrationId where wamid = @Wamid and status = @Status";

    private const string FindEarlySql = """
        select s.wamid as "Wamid", s.status as "Status", s.occurred_at as "OccurredAt", s.recipient_id as "RecipientId",
               s.error_code as "ErrorCode", s.error_title as "ErrorTitle", s.error_detail as "ErrorDetail"
          from whatsapp_statuses s
          join ticket_deliveries d on d.wamid = s.wamid
         where s.registration_id is null
         order by s.received_at
         limit @Limit
        """;

    /// <summary>Locks the unattached row, so two runs cannot attach one status twice.</summary>
    /// <summary>A no-op write that locks the unattached row, so two runs cannot attach one status twice.</summary>
    private const string ClaimEarlySql = """
        update whatsapp_statuses set registration_id = null
         where wamid = @Wamid and status = @Status and registration_id is null
        """;

    private const string MarkProcessedSql = """
        update whatsapp_webhook_inbox set processed_at = @Now, statuses = @Count, last_error = null
         where body_sha256 = @Sha and processed_at is null
        """;

    private const string MarkFailedSql = "update whatsapp_webhook_inbox set last_error = @Error where body_sha256 = @Sha and processed_at is null";

    private const string MarkUnprocessableSql = """
        update whatsapp_webhook_inbox set processed_at = @Now, statuses = 0, last_error = @Reason
         where body_sha256 = @Sha and processed_at is null
        """;

    private const string FindUnprocessedSql = """
        select body_sha256 as "Sha", body as "Body" from whatsapp_webhook_inbox
         where processed_at is null and received_at < @Before
         order by received_at
         limit @Limit
        """;

    private const string PurgeBodiesSql = """
        update whatsapp_webhook_inbox set body = null, body_purged_at = @Now
         where id in (select id from whatsapp_webhook_inbox
                       where body is not null and processed_at < @Before
                       order by processed_at
                       limit @Limit)
        """;

    /// <summary>Recipients' numbers: kept while an operator may need them for a ticket's delivery, then dropped.</summary>
    private const string PurgeRecipientsSql = """
        update whatsapp_statuses set recipient_id = null
         where (wamid, status) in (select wamid, status from whatsapp_statuses
                                    where recipient_id is not null and received_at < @Before
                                    order by received_at
                                    limit @Limit)
        """;

    public async Task<ReceiptsApplied> StoreAndApplyAsync(byte[] body, IReadOnlyList<WhatsAppStatus> statuses, CancellationToken cancellationToken)
    {
        var sha = SHA256.HashData(body);
        var processed = await database.RunAsync("whatsapp_webhook_store", connection =>
            connection.ExecuteScalarAsync<bool>(StoreSql, new { Sha = sha, Body = body, Now = Now() }), cancellationToken);
        if (processed)
        {
            return new ReceiptsApplied(Duplicate: true, 0, statuses.Count);
        }

        return await ApplyStoredAsync(sha, statuses, cancellationToken);
    }

    /// <summary>A stored body's statuses applied and the row settled, in one transaction; a failure leaves it stored, with the reason.</summary>
    private async Task<ReceiptsApplied> ApplyStoredAsync(byte[] sha, IReadOnlyList<WhatsAppStatus> statuses, CancellationToken cancellationToken)
    {
        try
        {
            var claimed = new List<Guid>();
            var added = await database.InTransactionAsync("whatsapp_statuses_apply", async (connection, transaction) =>
            {
                var now = Now();
                var count = 0;
                // A rerun of the transaction (after a unique violation) starts from nothing.
                claimed.Clear();
                foreach (var status in statuses)
                {
                    if (await ApplyAsync(connection, transaction, status, now, claimed))
                    {
                        count++;
                    }
                }

                await connection.ExecuteAsync(MarkProcessedSql, new { Sha = sha, Count = statuses.Count, Now = now }, transaction);
                return count;
            }, cancellationToken);
            await EnqueueEmailsAsync(claimed);
            return new ReceiptsApplied(Duplicate: false, added, statuses.Count);
        }
        catch (Exception e) when (e is DependencyUnavailableException or DatabaseRefusedException or OperationCanceledException)
        {
            await TryMarkFailedAsync(sha, e.Message);
            throw;
        }
    }

    /// <returns>Whether this status was new.</returns>
    private async Task<bool> ApplyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, WhatsAppStatus status, DateTime now, List<Guid> claimed)
    {
        var failure = status.Status == "failed" ? DeliveryRetryPolicy.ClassifyStatusFailure(status.ErrorCode) : null;
        var inserted = await connection.ExecuteAsync(InsertStatusSql, new
        {
            status.Wamid,
            status.Status,
            status.OccurredAt,
            status.RecipientId,
            status.ErrorCode,
            status.ErrorTitle,
            status.ErrorDetail,
            FailureClass = failure?.Category,
            Now = now,
        }, transaction) == 1;
        if (!inserted)
        {
            return false;
        }

        if (!await ActOnAsync(connection, transaction, status, failure, now, claimed))
        {
            // Not the wamid: Meta's ids encode the recipient's number.
            logger.LogWarning("WhatsApp status {Status} for a message no ticket carries; recorded for an operator", status.Status);
            await AnomalyLog.RecordOnceAsync(connection, transaction, new Anomaly(AnomalyKind.WhatsAppStatusUnknownMessage,
                $"WhatsApp reported statuses for message {status.Wamid}, which no ticket delivery carries; see whatsapp_statuses. If a ticket records this id a moment later (the status overtook the send's answer), the reconciliation attaches them."), now);
        }

        return true;
    }

    /// <summary>
    /// Statuses that came before their ticket recorded the wamid (Meta's webhook can overtake the
    /// send's own answer), attached now that a ticket carries it. Each is attached by one transaction.
    /// </summary>
    public async Task<int> AttachEarlyStatusesAsync(int limit, CancellationToken cancellationToken)
    {
        var early = await database.RunAsync("whatsapp_statuses_find_early", async connection =>
            (await connection.QueryAsync<WhatsAppStatus>(FindEarlySql, new { Limit = limit })).ToList(), cancellationToken);
        var attached = 0;
        foreach (var status in early)
        {
            var emails = new List<Guid>();
            var done = await database.InTransactionAsync("whatsapp_statuses_attach", async (connection, transaction) =>
            {
                emails.Clear();
                // Claimed by the first transaction that sees it still unattached.
                var claimed = await connection.ExecuteAsync(ClaimEarlySql, new { status.Wamid, status.Status }, transaction) == 1;
                var failure = status.Status == "failed" ? DeliveryRetryPolicy.ClassifyStatusFailure(status.ErrorCode) : null;
                return claimed && await ActOnAsync(connection, transaction, status, failure, Now(), emails);
            }, cancellationToken);
            attached += done ? 1 : 0;
            await EnqueueEmailsAsync(emails);
        }

        return attached;
    }

    /// <returns>False when no ticket carries the wamid.</returns>
    private async Task<bool> ActOnAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, WhatsAppStatus status, StatusFailure? failure, DateTime now,
        List<Guid> emailsClaimed)
    {
        var error = failure is null ? null : $"{failure.Category} ({status.ErrorCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "no code"}): {status.ErrorTitle}{(status.ErrorDetail is null ? "" : " — " + status.ErrorDetail)}";
        var ticket = await TicketDeliveries.RecordStatusAsync(connection, transaction, status.Wamid, status.Status, status.OccurredAt, status.ErrorCode, error);
        if (ticket is not { } found)
        {
            return false;
        }

        await connection.ExecuteAsync(LinkStatusSql, new { found.RegistrationId, status.Wamid, status.Status }, transaction);
        if (failure is not null)
        {
            var (kind, advice) = failure.Kind switch
            {
                StatusFailureKind.Undeliverable => (AnomalyKind.TicketUndeliverable,
                    await EmailFallbackAsync(connection, transaction, found.RegistrationId, status.Wamid, error!, now, emailsClaimed)),
                StatusFailureKind.SendingBlocked => (AnomalyKind.TicketDeliveryFailed,
                    "The template or the access token is at fault; ticket sending is on hold until an operator fixes it (whatsapp_sending_blocked)."),
                StatusFailureKind.NotNow => (AnomalyKind.TicketDeliveryFailed, "WhatsApp refused it for now; an operator may resend it later."),
                _ => (AnomalyKind.TicketDeliveryFailed, "See WhatsApp's reason."),
            };
            logger.LogError("Ticket of {RegistrationId} not delivered: WhatsApp status failed, {Category} code {Code}",
                found.RegistrationId, failure.Category, status.ErrorCode);
            await AnomalyLog.RecordAsync(connection, transaction, new Anomaly(kind,
                $"WhatsApp message {status.Wamid} failed: {error}. {advice}", found.EventId, found.RegistrationId), now);
            if (failure.Kind == StatusFailureKind.SendingBlocked)
            {
                await SendingHolds.OpenAsync(connection, transaction, failure.Category, error!, found.EventId, found.RegistrationId, now);
            }
        }

        return true;
    }

    /// <summary>Claims the e-mail fallback of an undeliverable ticket; says for the anomaly what became of it.</summary>
    private async Task<string> EmailFallbackAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid registrationId, string wamid,
        string error, DateTime now, List<Guid> claimed)
    {
        var settings = email.Value;
        var claim = await TicketEmailFallbacks.ClaimAsync(connection, transaction, settings.IsConfigured, registrationId, wamid,
            $"WhatsApp message {wamid} failed: {error}", settings.IsConfigured ? settings.Sender.Domain : "", now);
        if (claim == FallbackClaim.Claimed)
        {
            claimed.Add(registrationId);
        }

        return claim switch
        {
            FallbackClaim.Claimed => "The number cannot receive WhatsApp messages from us; the ticket is being sent to the member's e-mail address instead (ticket_email_fallbacks).",
            FallbackClaim.AlreadyClaimed => "The number cannot receive WhatsApp messages from us; the ticket's e-mail fallback was started before (ticket_email_fallbacks), not again.",
            FallbackClaim.NoEmail => "The number cannot receive WhatsApp messages from us and the member has no e-mail address on record; reach the member another way.",
            _ => "The number cannot receive WhatsApp messages from us; reach the member another way (no e-mail fallback is configured).",
        };
    }

    /// <summary>
    /// The claimed e-mails' messages, after the commit. One that cannot be enqueued stays <c>queued</c>
    /// in the database, where the reconciliation's email_fallbacks step finds it.
    /// </summary>
    private async Task EnqueueEmailsAsync(List<Guid> claimed)
    {
        foreach (var registrationId in claimed)
        {
            try
            {
                await queue.SendAsync(TicketDeliveryMessage.Email(registrationId), CancellationToken.None);
            }
            catch (Exception e) when (TicketQueue.IsUnavailable(e))
            {
                logger.LogWarning("Ticket e-mail of {RegistrationId} claimed but not enqueued; the reconciliation enqueues it", registrationId);
            }
        }
    }

    /// <summary>
    /// A stored body whose processing failed (its request died after the insert) and that Meta has
    /// not redelivered since, processed now as the webhook would. A body that no longer parses is
    /// settled for an operator rather than tried every run. Applying is idempotent, so a redelivery
    /// racing this only answers twice.
    /// </summary>
    /// <returns>Whether it was applied (false: settled as unprocessable).</returns>
    public async Task<bool> RetryStoredAsync(byte[] sha, byte[] body, CancellationToken cancellationToken)
    {
        var statuses = WhatsAppStatusPayload.TryParse(body, out var problem);
        if (statuses is null)
        {
            var reason = problem?.Body is Infrastructure.Http.ProblemDocument document ? document.Detail : "no detail";
            await database.InTransactionAsync("whatsapp_webhook_unprocessable", async (connection, transaction) =>
            {
                var now = Now();
                if (await connection.ExecuteAsync(MarkUnprocessableSql, new { Sha = sha, Reason = $"unprocessable: the stored body no longer parses ({reason})", Now = now }, transaction) == 1)
                {
                    await AnomalyLog.RecordAsync(connection, transaction, new Anomaly(AnomalyKind.WebhookUnprocessable,
                        $"A stored WhatsApp webhook body (sha256 {Convert.ToHexStringLower(sha)}) no longer parses: {reason}. It is kept in whatsapp_webhook_inbox and settled, not retried."), now);
                }

                return 0;
            }, cancellationToken);
            return false;
        }

        await ApplyStoredAsync(sha, statuses, cancellationToken);
        return true;
    }

    /// <summary>Stored bodies not processed, received before <paramref name="before"/>, oldest first.</summary>
    public Task<List<(byte[] Sha, byte[] Body)>> FindUnprocessedAsync(DateTime before, int limit, CancellationToken cancellationToken) =>
        database.RunAsync("whatsapp_webhook_find_unprocessed", async connection =>
            (await connection.QueryAsync<(byte[] Sha, byte[] Body)>(FindUnprocessedSql, new { Before = before, Limit = limit })).ToList(), cancellationToken);

    /// <summary>
    /// Drops the bodies of webhooks processed before <paramref name="before"/> (they hold members'
    /// numbers; the row stays, so a redelivery still dedupes) and the recipient numbers of statuses
    /// received before it. A body never processed stays until it is.
    /// </summary>
    public Task<(int Bodies, int Recipients)> PurgeAsync(DateTime before, int limit, CancellationToken cancellationToken) =>
        database.RunAsync("whatsapp_webhook_purge", async connection =>
        {
            var parameters = new { Before = before, Limit = limit, Now = Now() };
            var bodies = await connection.ExecuteAsync(PurgeBodiesSql, parameters);
            var recipients = await connection.ExecuteAsync(PurgeRecipientsSql, parameters);
            return (bodies, recipients);
        }, cancellationToken);

    private async Task TryMarkFailedAsync(byte[] sha, string error)
    {
        using var shortly = new CancellationTokenSource(TimeSpan.FromMilliseconds(500), clock);
        try
        {
            await database.RunAsync("whatsapp_webhook_failed", connection =>
                connection.ExecuteAsync(MarkFailedSql, new { Sha = sha, Error = error.Length > 500 ? error[..500] : error }), shortly.Token);
        }
        catch (Exception e) when (e is DependencyUnavailableException or OperationCanceledException)
        {
            logger.LogWarning("Could not note the failure of a WhatsApp webhook; it stays unprocessed either way");
        }
    }

    private DateTime Now() => clock.GetUtcNow().UtcDateTime;
}
