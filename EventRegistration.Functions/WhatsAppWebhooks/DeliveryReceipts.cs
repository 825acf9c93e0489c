using System.Security.Cryptography;
using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Tickets;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace EventRegistration.Functions.WhatsAppWebhooks;

/// <summary>What became of one stored WhatsApp webhook body.</summary>
public sealed record ReceiptsApplied(bool Duplicate, int NewStatuses, int Statuses);

/// <summary>
/// The one owner of <c>whatsapp_webhook_inbox</c> and <c>whatsapp_statuses</c>:
/// <code>
/// body verified ──► stored (by its SHA-256; a redelivery only counts) ──► statuses applied, processed_at set (one transaction)
///    (a failure leaves it stored and unprocessed; Meta redelivers the same bytes, which are processed then)
/// each status ──► whatsapp_statuses (wamid, status) once ──► the ticket's view, anomalies for failures
/// </code>
/// A status is acted on only by the transaction that inserted its (wamid, status) row, so
/// duplicate and concurrent deliveries change nothing and record no anomaly twice.
/// </summary>
public sealed class DeliveryReceipts(Database database, TimeProvider clock, ILogger<DeliveryReceipts> logger)
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

    private const string MarkProcessedSql = """
        update whatsapp_webhook_inbox set processed_at = @Now, statuses = @Count, last_error = null
         where body_sha256 = @Sha and processed_at is null
        """;

    private const string MarkFailedSql = "update whatsapp_webhook_inbox set last_error = @Error where body_sha256 = @Sha and processed_at is null";

    public async Task<ReceiptsApplied> StoreAndApplyAsync(byte[] body, IReadOnlyList<WhatsAppStatus> statuses, CancellationToken cancellationToken)
    {
        var sha = SHA256.HashData(body);
        var processed = await database.RunAsync("whatsapp_webhook_store", connection =>
            connection.ExecuteScalarAsync<bool>(StoreSql, new { Sha = sha, Body = body, Now = Now() }), cancellationToken);
        if (processed)
        {
            return new ReceiptsApplied(Duplicate: true, 0, statuses.Count);
        }

        try
        {
            var added = await database.InTransactionAsync("whatsapp_statuses_apply", async (connection, transaction) =>
            {
                var now = Now();
                var count = 0;
                foreach (var status in statuses)
                {
                    if (await ApplyAsync(connection, transaction, status, now))
                    {
                        count++;
                    }
                }

                await connection.ExecuteAsync(MarkProcessedSql, new { Sha = sha, Count = statuses.Count, Now = now }, transaction);
                return count;
            }, cancellationToken);
            return new ReceiptsApplied(Duplicate: false, added, statuses.Count);
        }
        catch (Exception e) when (e is DependencyUnavailableException or DatabaseRefusedException or OperationCanceledException)
        {
            await TryMarkFailedAsync(sha, e.Message);
            throw;
        }
    }

    /// <returns>Whether this status was new.</returns>
    private async Task<bool> ApplyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, WhatsAppStatus status, DateTime now)
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

        var error = failure is null ? null : $"{failure.Category} ({status.ErrorCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "no code"}): {status.ErrorTitle}{(status.ErrorDetail is null ? "" : " — " + status.ErrorDetail)}";
        var ticket = await TicketDeliveries.RecordStatusAsync(connection, transaction, status.Wamid, status.Status, status.OccurredAt, status.ErrorCode, error);
        if (ticket is not { } found)
        {
            logger.LogWarning("WhatsApp status {Status} for message {Wamid}, which no ticket carries; recorded for an operator", status.Status, status.Wamid);
            await AnomalyLog.RecordOnceAsync(connection, transaction, new Anomaly(AnomalyKind.WhatsAppStatusUnknownMessage,
                $"WhatsApp reported statuses for message {status.Wamid}, which no ticket delivery carries; see whatsapp_statuses."), now);
            return true;
        }

        await connection.ExecuteAsync(LinkStatusSql, new { found.RegistrationId, status.Wamid, status.Status }, transaction);
        if (failure is not null)
        {
            var (kind, advice) = failure.Kind switch
            {
                StatusFailureKind.Undeliverable => (AnomalyKind.TicketUndeliverable,
                    "The number cannot receive WhatsApp messages from us; reach the member another way (no e-mail fallback is configured)."),
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
