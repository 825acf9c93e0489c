using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using Npgsql;

namespace EventRegistration.Functions.Tickets;

/// <summary>A ticket delivery with what its message needs (member, event) and what its flow decides on.</summary>
public sealed class TicketDelivery
{
    public Guid RegistrationId { get; init; }
    public string Status { get; init; } = "";
    public int Attempts { get; init; }
    public DateTime? LastAttemptAt { get; init; }
    public DateTime? NextAttemptAt { get; init; }
    public string? LastError { get; init; }
    public Guid EventId { get; init; }
    public string RegistrationStatus { get; init; } = "";
    public string EventStatus { get; init; } = "";
    /// <summary>The registration's payment's refund state (null: nothing refunded or owed).</summary>
    public string? RefundStatus { get; init; }
    public string MemberName { get; init; } = "";
    public string PhoneE164 { get; init; } = "";
    public string EventTitle { get; init; } = "";
    public DateTime EventStartsAt { get; init; }

    public bool IsFinished => Status is "sent" or "failed" or "withheld";
}

/// <summary>A delivery as a resend sees it, under its row lock.</summary>
public sealed class ResendableDelivery
{
    public string Status { get; init; } = "";
    public int Attempts { get; init; }
    public string? Wamid { get; init; }
    public string? LastError { get; init; }
    public string RegistrationStatus { get; init; } = "";
    public string EventStatus { get; init; } = "";
    public string? RefundStatus { get; init; }
}

/// <summary>A ticket WhatsApp accepted that has not been reported delivered.</summary>
public sealed record UndeliveredTicket(Guid RegistrationId, Guid EventId, string Wamid, DateTime SentAt, string? WhatsAppStatus);

/// <summary>
/// The <c>ticket_deliveries</c> state machine, <c>queued → sending → sent | failed</c>, or
/// <c>queued | sending → withheld</c> when the ticket no longer admits before it is sent, and every
/// statement that reads or moves it (as Orders/SeatHolds.cs owns the holds). Each write names the
/// status and attempt number it expects, so a worker that lost its lease without noticing cannot
/// overwrite what a later worker recorded; a write that matched no row tells its caller so.
/// </summary>
public sealed class TicketDeliveries(Database database)
{
    private const string Read = """
        select d.registration_id, d.status, d.attempts, d.last_attempt_at, d.next_attempt_at, d.last_error,
               r.event_id, r.status as registration_status, e.status as event_status, p.refund_status,
               m.name as member_name, m.phone_e164, e.title as event_title, e.starts_at as event_starts_at
          from ticket_deliveries d
          join event_registrations r on r.id = d.registration_id
          join members m on m.id = r.member_id
          join events e on e.id = r.event_id
          left join payments p on p.payment_id = r.payment_id
         where d.registration_id = @RegistrationId
        """;

    /// <summary>
    /// Committed before any WhatsApp call: the attempt is on record even if the process dies during it.
    /// It also compares what the send was decided on (<see cref="TicketVerifier.RevokedBecause"/>):
    /// the registration's, the event's and the refund's state as read. A refund owed or a cancellation
    /// committed since then matches no row, and the caller reads again and decides again, so a ticket
    /// starts on its way only if the door would admit it at that statement; one owed after it is a
    /// ticket sent before its refund, like any other.
    /// </summary>
    private const string MarkSending = $"""
        update ticket_deliveries d
           set status = 'sending', attempts = attempts + 1, last_attempt_at = @Now, next_attempt_at = null,
               last_error = @Note, held_since = null, updated_at = @Now
          from {TicketVerifier.AdmissionFacts}
         where d.registration_id = @RegistrationId and d.status = @ExpectedStatus and d.attempts = @ExpectedAttempts
           and r.id = d.registration_id and {TicketVerifier.AdmissionAsRead}
        returning d.attempts
        """;

    /// <summary>
    /// The ticket no longer admits and was not sent by this worker: final, with the reason. From
    /// <c>sending</c> only when an earlier attempt's outcome is unknown (the reason says so).
    /// </summary>
    private const string Withhold = """
        update ticket_deliveries
           set status = 'withheld', last_error = @Reason, next_attempt_at = null, held_since = null, updated_at = @Now
         where registration_id = @RegistrationId and status = @ExpectedStatus and attempts = @ExpectedAttempts
        """;

    private const string MarkSent = """
        update ticket_deliveries
           set status = 'sent', wamid = @Wamid, media_id = @MediaId, ticket_blob = @TicketBlob, sent_at = @Now,
               next_attempt_at = null, last_error = null, updated_at = @Now
         where registration_id = @RegistrationId and status = 'sending' and attempts = @Attempt
        """;

    /// <summary>
    /// Back to <c>queued</c> when WhatsApp certainly sent nothing; left <c>sending</c> when it may have.
    /// An attempt that was only paced (a throughput or pair-rate limit) is given back.
    /// </summary>
    private const string ScheduleRetry = """
        update ticket_deliveries
           set status = @Status, last_error = @Error, next_attempt_at = @NextAttemptAt, attempts = attempts - @GivenBack,
               media_id = coalesce(@MediaId, media_id), ticket_blob = coalesce(@TicketBlob, ticket_blob),
               held_since = case when @Held then @Now end, updated_at = @Now
         where registration_id = @RegistrationId and status = 'sending' and attempts = @Attempt
        """;

    /// <summary>
    /// A send in doubt met before it may be repeated: nobody scheduled it (its worker died, or could
    /// not record the wamid), or its scheduled message came a little early. The copy that still sees
    /// the schedule it read (compare and set) schedules the resend; any other ends.
    /// </summary>
    private const string ScheduleResend = """
        update ticket_deliveries set next_attempt_at = @NextAttemptAt, updated_at = @Now
         where registration_id = @RegistrationId and status = 'sending' and attempts = @Attempt
           and next_attempt_at is not distinct from @SeenNextAttemptAt
        """;

    /// <summary>Sending is on hold: the delivery waits, keeping its status and attempts, marked so that the release resumes it.</summary>
    private const string Postpone = """
        update ticket_deliveries set next_attempt_at = @NextAttemptAt, last_error = @Note, held_since = coalesce(held_since, @Now), updated_at = @Now
         where registration_id = @RegistrationId and status = @ExpectedStatus and attempts = @ExpectedAttempts
        """;

    /// <summary>The scheduled message never reached the queue: whichever copy comes next may act.</summary>
    private const string Unschedule = """
        update ticket_deliveries set next_attempt_at = null
         where registration_id = @RegistrationId and attempts = @Attempt and next_attempt_at = @NextAttemptAt
        """;

    private const string MarkFailed = """
        update ticket_deliveries
           set status = 'failed', last_error = @Error, next_attempt_at = null, media_id = coalesce(@MediaId, media_id),
               ticket_blob = coalesce(@TicketBlob, ticket_blob), updated_at = @Now
         where registration_id = @RegistrationId and status = @ExpectedStatus and attempts = @ExpectedAttempts
        """;

    /// <summary>
    /// Open deliveries of paid registrations whose message is lost. Unsent: as the confirmation wrote
    /// it, or an operator's resend reopened it (never attempted, never scheduled, never touched since:
    /// <c>updated_at = coalesce(opened_at, created_at)</c>) and older than <c>@UnsentBefore</c> — the
    /// message owed after that commit never reached the queue. Stuck:
    /// untouched since <c>@StuckBefore</c> with any due time before it too (a message poisoned, a
    /// worker gone mid-send, a scheduled retry never enqueued, an unsent one whose enqueued copy was
    /// lost again). A worker's attempt makes the delivery <c>sending</c> and a schedule sets its due
    /// time, so the short grace never applies to an attempt under way; and once the reconciliation has
    /// enqueued it (and bumped <c>updated_at</c>) a delivery waits the stuck threshold, so a handler
    /// that keeps failing is retried once per threshold. The partial index
    /// <c>ticket_deliveries_open (updated_at)</c> serves both.
    /// </summary>
    private const string FindStuck = """
        select d.registration_id, d.status, d.updated_at,
               (d.status = 'queued' and d.attempts = 0 and d.next_attempt_at is null
                and d.updated_at = coalesce(d.opened_at, d.created_at)) as unsent
          from ticket_deliveries d
          join event_registrations r on r.id = d.registration_id and r.status = 'paid'
         where d.status in ('queued', 'sending') and d.updated_at < @UnsentBefore
           and ((d.status = 'queued' and d.attempts = 0 and d.next_attempt_at is null
                 and d.updated_at = coalesce(d.opened_at, d.created_at))
                or (d.updated_at < @StuckBefore and (d.next_attempt_at is null or d.next_attempt_at < @StuckBefore)))
         order by d.updated_at
         limit @Limit
        """;

    private const string Touch = """
        update ticket_deliveries set updated_at = @Now
         where registration_id = @RegistrationId and status in ('queued', 'sending') and updated_at = @Seen
        """;

    /// <summary>
    /// A WhatsApp delivery status on the ticket that carries the wamid. The view keeps the furthest
    /// status reached (read > delivered > failed > sent), so statuses apply in any order; each
    /// status's own time is kept once.
    /// </summary>
    private const string RecordStatus = """
        update ticket_deliveries d
           set whatsapp_status = case
                   when array_position(array['sent', 'failed', 'delivered', 'read'], @Status)
                        > coalesce(array_position(array['sent', 'failed', 'delivered', 'read'], d.whatsapp_status), 0)
                   then @Status else d.whatsapp_status end,
               whatsapp_sent_at = case when @Status = 'sent' then coalesce(d.whatsapp_sent_at, @At) else d.whatsapp_sent_at end,
               delivered_at = case when @Status = 'delivered' then coalesce(d.delivered_at, @At) else d.delivered_at end,
               read_at = case when @Status = 'read' then coalesce(d.read_at, @At) else d.read_at end,
               whatsapp_failed_at = case when @Status = 'failed' then coalesce(d.whatsapp_failed_at, @At) else d.whatsapp_failed_at end,
               whatsapp_error_code = case when @Status = 'failed' then @ErrorCode else d.whatsapp_error_code end,
               whatsapp_error = case when @Status = 'failed' then @Error else d.whatsapp_error end
          from event_registrations r
         where d.wamid = @Wamid and r.id = d.registration_id
        returning d.registration_id as "RegistrationId", r.event_id as "EventId"
        """;

    /// <summary>Tickets WhatsApp accepted before <c>@Before</c> with neither 'delivered' nor 'read' since, not yet reported.</summary>
    private const string FindUndelivered = """
        select d.registration_id as "RegistrationId", r.event_id as "EventId", d.wamid as "Wamid", d.sent_at as "SentAt",
               d.whatsapp_status as "WhatsAppStatus"
          from ticket_deliveries d
          join event_registrations r on r.id = d.registration_id
         where d.status = 'sent' and d.delivered_at is null and d.read_at is null
           and d.undelivered_reported_at is null and d.sent_at < @Before
         order by d.sent_at
         limit @Limit
        """;

    private const string MarkUndeliveredReported = """
        update ticket_deliveries set undelivered_reported_at = @Now
         where registration_id = @RegistrationId and undelivered_reported_at is null
           and delivered_at is null and read_at is null
        """;

    /// <summary>The delivery of a registration, locked, with what decides whether it may be sent again.</summary>
    private const string LockForResend = """
        select d.status, d.attempts, d.wamid, d.last_error, r.status as registration_status, e.status as event_status,
               p.refund_status
          from ticket_deliveries d
          join event_registrations r on r.id = d.registration_id
          join events e on e.id = r.event_id
          left join payments p on p.payment_id = r.payment_id
         where d.registration_id = @RegistrationId
           for update of d
        """;

    /// <summary>
    /// An explicit new delivery of a finished ticket: back to <c>queued</c> with a fresh count of
    /// attempts, and the receipt of the message it replaces cleared (that message's statuses stay in
    /// <c>whatsapp_statuses</c>; the resend's record keeps its wamid). Only from <c>sent</c> or
    /// <c>failed</c> with the attempts the caller read under the row lock. <c>opened_at</c> marks the
    /// reopening, so a lost message of the resend is found after the same short grace as the
    /// confirmation's (<see cref="FindStuck"/>).
    /// </summary>
    private const string ReopenForResend = """
        update ticket_deliveries
           set status = 'queued', attempts = 0, next_attempt_at = null, last_error = null, wamid = null, sent_at = null, opened_at = @Now,
               whatsapp_status = null, whatsapp_sent_at = null, delivered_at = null, read_at = null, whatsapp_failed_at = null,
               whatsapp_error_code = null, whatsapp_error = null, undelivered_reported_at = null, updated_at = @Now
         where registration_id = @RegistrationId and status = @ExpectedStatus and attempts = @ExpectedAttempts
           and status in ('sent', 'failed')
        """;

    /// <returns>The delivery as it stands, locked until the caller's transaction ends; null when the registration has none.</returns>
    public static Task<ResendableDelivery?> LockForResendAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid registrationId) =>
        connection.QuerySingleOrDefaultAsync<ResendableDelivery>(LockForResend, new { RegistrationId = registrationId }, transaction);

    /// <returns>False when the delivery is no longer as the caller read it.</returns>
    public static async Task<bool> ReopenForResendAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid registrationId,
        ResendableDelivery seen, DateTime now) =>
        await connection.ExecuteAsync(ReopenForResend, new
        {
            RegistrationId = registrationId,
            ExpectedStatus = seen.Status,
            ExpectedAttempts = seen.Attempts,
            Now = now,
        }, transaction) == 1;

    /// <returns>The ticket the wamid belongs to, or null when no ticket carries it.</returns>
    public static async Task<(Guid RegistrationId, Guid EventId)?> RecordStatusAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        string wamid, string status, DateTime at, int? errorCode, string? error) =>
        (await connection.QueryAsync<(Guid RegistrationId, Guid EventId)>(RecordStatus,
            new { Wamid = wamid, Status = status, At = at, ErrorCode = errorCode, Error = error is null ? null : Truncate(error) }, transaction))
            .Cast<(Guid, Guid)?>().SingleOrDefault();

    public Task<List<UndeliveredTicket>> FindUndeliveredAsync(DateTime before, int limit, CancellationToken cancellationToken) =>
        database.RunAsync("reconcile_undelivered_find", async connection =>
            (await connection.QueryAsync<UndeliveredTicket>(FindUndelivered, new { Before = before, Limit = limit })).ToList(), cancellationToken);

    /// <returns>False when it was reported already, or a 'delivered' came meanwhile.</returns>
    public static async Task<bool> MarkUndeliveredReportedAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid registrationId, DateTime now) =>
        await connection.ExecuteAsync(MarkUndeliveredReported, new { RegistrationId = registrationId, Now = now }, transaction) == 1;

    public Task<TicketDelivery?> ReadAsync(Guid registrationId, CancellationToken cancellationToken) =>
        database.RunAsync("ticket_read", connection =>
            connection.QuerySingleOrDefaultAsync<TicketDelivery>(Read, new { RegistrationId = registrationId }), cancellationToken);

    /// <returns>The new attempt's number, or null when the delivery is no longer as read.</returns>
    public Task<int?> MarkSendingAsync(TicketDelivery seen, string? note, DateTime now, CancellationToken cancellationToken) =>
        database.RunAsync("ticket_mark_sending", connection => connection.ExecuteScalarAsync<int?>(MarkSending, new
        {
            seen.RegistrationId,
            Now = now,
            Note = note,
            ExpectedStatus = seen.Status,
            ExpectedAttempts = seen.Attempts,
            seen.RegistrationStatus,
            seen.EventStatus,
            seen.RefundStatus,
        }), cancellationToken);

    /// <returns>False when another worker moved the delivery on since <paramref name="seen"/> was read.</returns>
    public async Task<bool> WithholdAsync(TicketDelivery seen, string reason, DateTime now, CancellationToken cancellationToken) =>
        await database.RunAsync("ticket_withhold", connection => connection.ExecuteAsync(Withhold, new
        {
            seen.RegistrationId,
            Reason = Truncate(reason),
            Now = now,
            ExpectedStatus = seen.Status,
            ExpectedAttempts = seen.Attempts,
        }), cancellationToken) == 1;

    /// <returns>False when another worker moved the delivery on since <paramref name="seen"/> was read.</returns>
    public async Task<bool> PostponeAsync(TicketDelivery seen, string note, DateTime nextAttemptAt, DateTime now, CancellationToken cancellationToken) =>
        await database.RunAsync("ticket_postpone", connection => connection.ExecuteAsync(Postpone, new
        {
            seen.RegistrationId,
            Note = Truncate(note),
            NextAttemptAt = nextAttemptAt,
            Now = now,
            ExpectedStatus = seen.Status,
            ExpectedAttempts = seen.Attempts,
        }), cancellationToken) == 1;

    /// <returns>False when another worker moved the delivery on after this attempt started.</returns>
    public async Task<bool> MarkSentAsync(Guid registrationId, int attempt, string wamid, string mediaId, string? ticketBlob, DateTime now) =>
        await database.RunAsync("ticket_mark_sent", connection => connection.ExecuteAsync(MarkSent, new
        {
            RegistrationId = registrationId,
            Wamid = wamid,
            MediaId = mediaId,
            TicketBlob = ticketBlob,
            Now = now,
            Attempt = attempt,
        }), CancellationToken.None) == 1;

    /// <param name="spendsAttempt">False gives the attempt back (the delivery then counts <paramref name="attempt"/> - 1).</param>
    /// <returns>False when another worker moved the delivery on after this attempt started.</returns>
    /// <param name="held">The attempt met a refusal that put sending on hold: the delivery waits for the release.</param>
    public async Task<bool> ScheduleRetryAsync(Guid registrationId, int attempt, bool inDoubt, string error, DateTime nextAttemptAt,
        string? mediaId, string? ticketBlob, DateTime now, bool held = false, bool spendsAttempt = true) =>
        await database.RunAsync("ticket_schedule_retry", connection => connection.ExecuteAsync(ScheduleRetry, new
        {
            RegistrationId = registrationId,
            Status = inDoubt ? "sending" : "queued",
            Error = Truncate(error),
            NextAttemptAt = nextAttemptAt,
            MediaId = mediaId,
            TicketBlob = ticketBlob,
            Now = now,
            Attempt = attempt,
            Held = held,
            GivenBack = spendsAttempt || inDoubt ? 0 : 1,
        }), CancellationToken.None) == 1;

    /// <returns>False when someone else scheduled it (or moved it on) since <paramref name="seen"/> was read.</returns>
    public async Task<bool> ScheduleResendAsync(TicketDelivery seen, DateTime nextAttemptAt, DateTime now, CancellationToken cancellationToken) =>
        await database.RunAsync("ticket_schedule_resend", connection => connection.ExecuteAsync(ScheduleResend, new
        {
            seen.RegistrationId,
            Attempt = seen.Attempts,
            SeenNextAttemptAt = seen.NextAttemptAt,
            NextAttemptAt = nextAttemptAt,
            Now = now,
        }), cancellationToken) == 1;

    public Task UnscheduleAsync(Guid registrationId, int attempt, DateTime nextAttemptAt) =>
        database.RunAsync("ticket_unschedule", connection => connection.ExecuteAsync(Unschedule, new
        {
            RegistrationId = registrationId,
            Attempt = attempt,
            NextAttemptAt = nextAttemptAt,
        }), CancellationToken.None);

    /// <returns>False when the delivery is no longer in the expected status and attempt.</returns>
    public async Task<bool> MarkFailedAsync(Guid registrationId, string expectedStatus, int expectedAttempts, string reason,
        string? mediaId, string? ticketBlob, DateTime now) =>
        await database.RunAsync("ticket_mark_failed", connection => connection.ExecuteAsync(MarkFailed, new
        {
            RegistrationId = registrationId,
            Error = Truncate(reason),
            MediaId = mediaId,
            TicketBlob = ticketBlob,
            Now = now,
            ExpectedStatus = expectedStatus,
            ExpectedAttempts = expectedAttempts,
        }), CancellationToken.None) == 1;

    /// <param name="unsentBefore">Deliveries as the confirmation wrote them, older than this, are due (the short grace).</param>
    /// <param name="stuckBefore">Any other open delivery untouched since this is due (the stuck threshold); must not be later than <paramref name="unsentBefore"/>.</param>
    public Task<List<(Guid RegistrationId, string Status, DateTime UpdatedAt, bool Unsent)>> FindStuckAsync(DateTime unsentBefore, DateTime stuckBefore, int limit,
        CancellationToken cancellationToken) =>
        database.RunAsync("reconcile_deliveries_find", async connection =>
            (await connection.QueryAsync<(Guid RegistrationId, string Status, DateTime UpdatedAt, bool Unsent)>(FindStuck,
                new { UnsentBefore = unsentBefore, StuckBefore = stuckBefore < unsentBefore ? stuckBefore : unsentBefore, Limit = limit })).ToList(),
            cancellationToken);

    /// <summary>Marks a delivery as just (re-)enqueued, so the next reconciliation waits a whole grace or threshold again.</summary>
    public Task TouchAsync(Guid registrationId, DateTime seen, DateTime now, CancellationToken cancellationToken) =>
        database.RunAsync("reconcile_deliveries_bump", connection =>
            connection.ExecuteAsync(Touch, new { RegistrationId = registrationId, Seen = seen, Now = now }), cancellationToken);

    public static string Truncate(string text) => text.Length > 1000 ? text[..1000] : text;
}
