using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Tickets;
using Npgsql;

namespace EventRegistration.Functions.EmailFallback;

/// <summary>A ticket's e-mail fallback with what its message needs (member, event) and what its flow decides on.</summary>
public sealed class TicketEmailFallback
{
    public Guid RegistrationId { get; init; }
    public string Status { get; init; } = "";
    public int Attempts { get; init; }
    public DateTime? LastAttemptAt { get; init; }
    public DateTime? NextAttemptAt { get; init; }
    public string? LastError { get; init; }
    public string MessageId { get; init; } = "";
    public Guid EventId { get; init; }
    public string RegistrationStatus { get; init; } = "";
    public string EventStatus { get; init; } = "";
    /// <summary>The registration's payment's refund state (null: nothing refunded or owed).</summary>
    public string? RefundStatus { get; init; }
    public string MemberName { get; init; } = "";
    public string? Email { get; init; }
    public string EventTitle { get; init; } = "";
    public DateTime EventStartsAt { get; init; }
    public string EventTimeZone { get; init; } = "";
    public string? Venue { get; init; }
}

/// <summary>Whether a WhatsApp failure started an e-mail fallback.</summary>
public enum FallbackClaim
{
    /// <summary>This transaction claimed it: the e-mail is queued.</summary>
    Claimed,
    /// <summary>It was claimed before (an earlier failure of this ticket): nothing new.</summary>
    AlreadyClaimed,
    /// <summary>The member has no e-mail address on record.</summary>
    NoEmail,
    /// <summary>No SMTP server is configured (EmailFallback__Host).</summary>
    NotConfigured,
}

/// <summary>
/// The one owner of <c>ticket_email_fallbacks</c>: the claim, and the e-mail's state machine
/// <c>queued → sending → sent | failed</c> (or <c>withheld</c> when the ticket no longer admits before
/// it is sent), as <see cref="TicketDeliveries"/> owns WhatsApp's. The claim
/// is an insert keyed by the registration, made in the transaction that records WhatsApp's failure,
/// so a ticket gets one fallback however many failure webhooks arrive, at once or later. Each later
/// write names the status and attempt it expects (compare and set): of two workers holding the same
/// queue message, one moves <c>queued → sending</c> and sends, the other matches no row and ends.
/// </summary>
public sealed class TicketEmailFallbacks(Database database)
{
    private const string Claim = """
        insert into ticket_email_fallbacks (registration_id, reason, wamid, message_id, created_at, updated_at)
        select r.id, @Reason, @Wamid, @MessageId, @Now, @Now
          from event_registrations r join members m on m.id = r.member_id
         where r.id = @RegistrationId and nullif(trim(m.email), '') is not null
        on conflict (registration_id) do nothing
        """;

    private const string Exists = "select exists (select 1 from ticket_email_fallbacks where registration_id = @RegistrationId)";

    private const string Read = """
        select f.registration_id, f.status, f.attempts, f.last_attempt_at, f.next_attempt_at, f.last_error, f.message_id,
               r.event_id, r.status as registration_status, e.status as event_status, p.refund_status,
               m.name as member_name, nullif(trim(m.email), '') as email,
               e.title as event_title, e.starts_at as event_starts_at, e.time_zone as event_time_zone, e.venue
          from ticket_email_fallbacks f
          join event_registrations r on r.id = f.registration_id
          join members m on m.id = r.member_id
          join events e on e.id = r.event_id
          left join payments p on p.payment_id = r.payment_id
         where f.registration_id = @RegistrationId
        """;

    /// <summary>
    /// Committed before the SMTP call, so an attempt is on record even if the process dies during it.
    /// Like WhatsApp's (<see cref="TicketDeliveries"/>), it compares the state the send was decided on:
    /// a refund owed or a cancellation committed since the read matches no row.
    /// </summary>
    private const string MarkSending = $"""
        update ticket_email_fallbacks f
           set status = 'sending', attempts = attempts + 1, last_attempt_at = @Now, next_attempt_at = null, last_error = @Note, updated_at = @Now
          from {TicketVerifier.AdmissionFacts}
         where f.registration_id = @RegistrationId and f.status = @ExpectedStatus and f.attempts = @ExpectedAttempts
           and r.id = f.registration_id and {TicketVerifier.AdmissionAsRead}
        returning f.attempts
        """;

    /// <summary>The ticket no longer admits and this worker sent nothing: final, with the reason.</summary>
    private const string Withhold = """
        update ticket_email_fallbacks set status = 'withheld', last_error = @Reason, next_attempt_at = null, updated_at = @Now
         where registration_id = @RegistrationId and status = @ExpectedStatus and attempts = @ExpectedAttempts
        """;

    private const string MarkSent = """
        update ticket_email_fallbacks set status = 'sent', sent_at = @Now, next_attempt_at = null, last_error = null, updated_at = @Now
         where registration_id = @RegistrationId and status = 'sending' and attempts = @Attempt
        """;

    private const string ScheduleRetry = """
        update ticket_email_fallbacks set status = @Status, last_error = @Error, next_attempt_at = @NextAttemptAt, updated_at = @Now
         where registration_id = @RegistrationId and status = 'sending' and attempts = @Attempt
        """;

    private const string ScheduleResend = """
        update ticket_email_fallbacks set next_attempt_at = @NextAttemptAt, updated_at = @Now
         where registration_id = @RegistrationId and status = 'sending' and attempts = @Attempt
           and next_attempt_at is not distinct from @SeenNextAttemptAt
        """;

    private const string MarkFailed = """
        update ticket_email_fallbacks set status = 'failed', last_error = @Error, next_attempt_at = null, updated_at = @Now
         where registration_id = @RegistrationId and status = @ExpectedStatus and attempts = @ExpectedAttempts
        """;

    private const string Unschedule = """
        update ticket_email_fallbacks set next_attempt_at = null
         where registration_id = @RegistrationId and attempts = @Attempt and next_attempt_at = @NextAttemptAt
        """;

    /// <summary>Open fallbacks untouched since <c>@Before</c> and due before it: their message was lost, poisoned, or never enqueued.</summary>
    private const string FindStuck = """
        select registration_id, updated_at from ticket_email_fallbacks
         where status in ('queued', 'sending') and updated_at < @Before
           and (next_attempt_at is null or next_attempt_at < @Before)
         order by updated_at
         limit @Limit
        """;

    private const string Touch = """
        update ticket_email_fallbacks set updated_at = @Now
         where registration_id = @RegistrationId and status in ('queued', 'sending') and updated_at = @Seen
        """;

    /// <summary>
    /// Claims the fallback for a ticket WhatsApp cannot deliver, inside the caller's transaction.
    /// The Message-ID is fixed at the claim, so a resend after an unknown outcome carries the same one
    /// and a mail client shows a duplicate as one message.
    /// </summary>
    public static async Task<FallbackClaim> ClaimAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, bool configured,
        Guid registrationId, string? wamid, string reason, string senderDomain, DateTime now)
    {
        if (!configured)
        {
            return FallbackClaim.NotConfigured;
        }

        var inserted = await connection.ExecuteAsync(Claim, new
        {
            RegistrationId = registrationId,
            Wamid = wamid,
            Reason = TicketDeliveries.Truncate(reason),
            MessageId = $"ticket-{registrationId:N}@{senderDomain}",
            Now = now,
        }, transaction) == 1;
        if (inserted)
        {
            return FallbackClaim.Claimed;
        }

        return await connection.ExecuteScalarAsync<bool>(Exists, new { RegistrationId = registrationId }, transaction)
            ? FallbackClaim.AlreadyClaimed
            : FallbackClaim.NoEmail;
    }

    public Task<TicketEmailFallback?> ReadAsync(Guid registrationId, CancellationToken cancellationToken) =>
        database.RunAsync("email_fallback_read", connection =>
            connection.QuerySingleOrDefaultAsync<TicketEmailFallback>(Read, new { RegistrationId = registrationId }), cancellationToken);

    /// <returns>The new attempt's number, or null when another worker moved the fallback on since <paramref name="seen"/> was read.</returns>
    public Task<int?> MarkSendingAsync(TicketEmailFallback seen, string? note, DateTime now, CancellationToken cancellationToken) =>
        database.RunAsync("email_fallback_mark_sending", connection => connection.ExecuteScalarAsync<int?>(MarkSending, new
        {
            seen.RegistrationId,
            Note = note,
            Now = now,
            ExpectedStatus = seen.Status,
            ExpectedAttempts = seen.Attempts,
            seen.RegistrationStatus,
            seen.EventStatus,
            seen.RefundStatus,
        }), cancellationToken);

    /// <returns>False when another worker moved the fallback on since <paramref name="seen"/> was read.</returns>
    public async Task<bool> WithholdAsync(TicketEmailFallback seen, string reason, DateTime now, CancellationToken cancellationToken) =>
        await database.RunAsync("email_fallback_withhold", connection => connection.ExecuteAsync(Withhold, new
        {
            seen.RegistrationId,
            Reason = TicketDeliveries.Truncate(reason),
            Now = now,
            ExpectedStatus = seen.Status,
            ExpectedAttempts = seen.Attempts,
        }), cancellationToken) == 1;

    public async Task<bool> MarkSentAsync(Guid registrationId, int attempt, DateTime now) =>
        await database.RunAsync("email_fallback_mark_sent", connection =>
            connection.ExecuteAsync(MarkSent, new { RegistrationId = registrationId, Attempt = attempt, Now = now }), CancellationToken.None) == 1;

    public async Task<bool> ScheduleRetryAsync(Guid registrationId, int attempt, bool inDoubt, string error, DateTime nextAttemptAt, DateTime now) =>
        await database.RunAsync("email_fallback_schedule_retry", connection => connection.ExecuteAsync(ScheduleRetry, new
        {
            RegistrationId = registrationId,
            Attempt = attempt,
            Status = inDoubt ? "sending" : "queued",
            Error = TicketDeliveries.Truncate(error),
            NextAttemptAt = nextAttemptAt,
            Now = now,
        }), CancellationToken.None) == 1;

    public async Task<bool> ScheduleResendAsync(TicketEmailFallback seen, DateTime nextAttemptAt, DateTime now, CancellationToken cancellationToken) =>
        await database.RunAsync("email_fallback_schedule_resend", connection => connection.ExecuteAsync(ScheduleResend, new
        {
            seen.RegistrationId,
            Attempt = seen.Attempts,
            SeenNextAttemptAt = seen.NextAttemptAt,
            NextAttemptAt = nextAttemptAt,
            Now = now,
        }), cancellationToken) == 1;

    public async Task<bool> MarkFailedAsync(Guid registrationId, string expectedStatus, int expectedAttempts, string error, DateTime now) =>
        await database.RunAsync("email_fallback_mark_failed", connection => connection.ExecuteAsync(MarkFailed, new
        {
            RegistrationId = registrationId,
            Error = TicketDeliveries.Truncate(error),
            Now = now,
            ExpectedStatus = expectedStatus,
            ExpectedAttempts = expectedAttempts,
        }), CancellationToken.None) == 1;

    public Task UnscheduleAsync(Guid registrationId, int attempt, DateTime nextAttemptAt) =>
        database.RunAsync("email_fallback_unschedule", connection =>
            connection.ExecuteAsync(Unschedule, new { RegistrationId = registrationId, Attempt = attempt, NextAttemptAt = nextAttemptAt }), CancellationToken.None);

    public Task<List<(Guid RegistrationId, DateTime UpdatedAt)>> FindStuckAsync(DateTime before, int limit, CancellationToken cancellationToken) =>
        database.RunAsync("email_fallback_find_stuck", async connection =>
            (await connection.QueryAsync<(Guid RegistrationId, DateTime UpdatedAt)>(FindStuck, new { Before = before, Limit = limit })).ToList(), cancellationToken);

    public Task TouchAsync(Guid registrationId, DateTime seen, DateTime now, CancellationToken cancellationToken) =>
        database.RunAsync("email_fallback_touch", connection =>
            connection.ExecuteAsync(Touch, new { RegistrationId = registrationId, Seen = seen, Now = now }), cancellationToken);
}
