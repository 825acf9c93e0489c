using System.Diagnostics;
using System.Globalization;
using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Telemetry;
using EventRegistration.Functions.Infrastructure.WhatsApp;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PhoneNumbers;

namespace EventRegistration.Functions.Tickets;

public enum TicketDeliveryOutcome
{
    /// <summary>This call sent the ticket and recorded the wamid.</summary>
    Sent,
    /// <summary>WhatsApp accepted the message but the wamid could not be recorded (database down); logged and flagged.</summary>
    SentUnrecorded,
    /// <summary>The ticket had been sent before: nothing was sent.</summary>
    AlreadySent,
    /// <summary>The delivery had failed for good before: nothing was sent.</summary>
    AlreadyFailed,
    /// <summary>This call found a permanent reason not to send (WhatsApp refusal, bad recipient, not paid, too many attempts).</summary>
    Failed,
    /// <summary>No delivery row exists for the registration; recorded as an anomaly.</summary>
    NoDelivery,
}

/// <summary>
/// Delivers one ticket: blob lease first, then the PostgreSQL state machine
/// <c>queued → sending → sent | failed</c>. The attempt is committed as <c>sending</c> before
/// WhatsApp is called, because the send has no idempotency key; a delivery later found in
/// <c>sending</c> is an attempt whose outcome nobody recorded (crash, timeout) and is sent again
/// only once it is older than <see cref="TicketOptions.ResendUnfinishedAfterSeconds"/>, with an
/// anomaly saying the member may have two messages. Every write names the status and attempt it
/// expects, so a worker that lost its lease cannot overwrite a later one.
/// </summary>
public sealed class TicketDeliveryHandler(
    Database database,
    TicketLocks locks,
    TicketBlobs blobs,
    TicketSigner signer,
    WhatsAppClient whatsApp,
    IOptions<TicketOptions> options,
    RegistrationMetrics metrics,
    TimeProvider clock,
    ILogger<TicketDeliveryHandler> logger)
{
    private const string ReadDelivery = """
        select d.registration_id, d.status, d.attempts, d.last_attempt_at, d.last_error,
               r.event_id, r.status as registration_status,
               m.name as member_name, m.phone_e164, e.title as event_title, e.starts_at as event_starts_at
          from ticket_deliveries d
          join event_registrations r on r.id = d.registration_id
          join members m on m.id = r.member_id
          join events e on e.id = r.event_id
         where d.registration_id = @RegistrationId
        """;

    /// <summary>Committed before any WhatsApp call: the attempt is on record even if the process dies during it.</summary>
    private const string MarkSending = """
        update ticket_deliveries
           set status = 'sending', attempts = attempts + 1, last_attempt_at = @Now, last_error = @Note, updated_at = @Now
         where registration_id = @RegistrationId and status = @ExpectedStatus and attempts = @ExpectedAttempts
        returning attempts
        """;

    private const string MarkSent = """
        update ticket_deliveries
           set status = 'sent', wamid = @Wamid, media_id = @MediaId, ticket_blob = @TicketBlob, sent_at = @Now,
               last_error = null, updated_at = @Now
         where registration_id = @RegistrationId and status = 'sending' and attempts = @Attempt
        """;

    /// <summary>Back to <c>queued</c> when WhatsApp certainly sent nothing; left <c>sending</c> when it may have.</summary>
    private const string MarkRetryable = """
        update ticket_deliveries
           set status = @Status, last_error = @Error, media_id = coalesce(@MediaId, media_id),
               ticket_blob = coalesce(@TicketBlob, ticket_blob), updated_at = @Now
         where registration_id = @RegistrationId and status = 'sending' and attempts = @Attempt
        """;

    private const string MarkFailed = """
        update ticket_deliveries
           set status = 'failed', last_error = @Error, media_id = coalesce(@MediaId, media_id),
               ticket_blob = coalesce(@TicketBlob, ticket_blob), updated_at = @Now
         where registration_id = @RegistrationId and status = @ExpectedStatus and attempts = @ExpectedAttempts
        """;

    private static readonly PhoneNumberUtil Phones = PhoneNumberUtil.GetInstance();

    public async Task<TicketDeliveryOutcome> DeliverAsync(Guid registrationId, CancellationToken cancellationToken)
    {
        var delivery = await ReadAsync(registrationId, cancellationToken);
        if (delivery is null)
        {
            logger.LogError("Ticket message for {RegistrationId}, which has no ticket delivery", registrationId);
            await TryRecordAnomalyAsync(AnomalyKind.TicketWithoutDelivery, null, registrationId,
                "A ticket queue message names a registration that has no ticket delivery row.");
            metrics.TicketSkipped("no_delivery");
            return TicketDeliveryOutcome.NoDelivery;
        }

        if (Finished(delivery) is { } finished)
        {
            return finished;
        }

        await using var lease = await locks.TryAcquireAsync(registrationId, cancellationToken);
        if (lease is null)
        {
            // Whoever holds it may have finished just now; otherwise come back when it is free.
            var current = await ReadAsync(registrationId, cancellationToken);
            if (current is not null && Finished(current) is { } done)
            {
                return done;
            }

            metrics.TicketSkipped("lease_taken");
            logger.LogInformation("Ticket lease of {RegistrationId} is held elsewhere; the message will be retried", registrationId);
            throw new TicketLeaseTakenException(registrationId);
        }

        // Read again under the lease: this is the state to act on.
        delivery = await ReadAsync(registrationId, cancellationToken)
            ?? throw new InvalidOperationException($"Ticket delivery {registrationId} vanished.");
        return Finished(delivery) ?? await AttemptAsync(delivery, lease, cancellationToken);
    }

    private TicketDeliveryOutcome? Finished(DeliveryRow delivery)
    {
        switch (delivery.Status)
        {
            case "sent":
                metrics.TicketSkipped("already_sent");
                logger.LogInformation("Ticket of {RegistrationId} already sent; nothing to do", delivery.RegistrationId);
                return TicketDeliveryOutcome.AlreadySent;
            case "failed":
                metrics.TicketSkipped("already_failed");
                logger.LogInformation("Ticket of {RegistrationId} failed before; an operator must requeue it", delivery.RegistrationId);
                return TicketDeliveryOutcome.AlreadyFailed;
            default:
                return null;
        }
    }

    private async Task<TicketDeliveryOutcome> AttemptAsync(DeliveryRow delivery, TicketLease lease, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var now = clock.GetUtcNow().UtcDateTime;

        if (delivery.RegistrationStatus != "paid")
        {
            return await GiveUpAsync(delivery, $"registration is {delivery.RegistrationStatus}, not paid: no ticket");
        }

        if (!IsPossibleE164(delivery.PhoneE164))
        {
            return await GiveUpAsync(delivery, "invalid_recipient: the member's phone number is not a possible E.164 number");
        }

        if (delivery.Attempts >= settings.MaxAttempts)
        {
            return await GiveUpAsync(delivery, $"gave up after {delivery.Attempts} attempts; last error: {delivery.LastError}");
        }

        string? note = null;
        if (delivery.Status == "sending")
        {
            var age = now - (delivery.LastAttemptAt ?? DateTime.MinValue);
            var threshold = TimeSpan.FromSeconds(settings.ResendUnfinishedAfterSeconds);
            if (age < threshold)
            {
                metrics.TicketSkipped("unfinished_attempt");
                logger.LogWarning("Ticket of {RegistrationId}: attempt {Attempt} has no recorded outcome and is {AgeSeconds:F0}s old; retrying later",
                    delivery.RegistrationId, delivery.Attempts, age.TotalSeconds);
                throw new TicketRetryLaterException(
                    $"Attempt {delivery.Attempts} of ticket {delivery.RegistrationId} may still be in flight; it is resent only after {threshold}.", threshold - age);
            }

            note = $"attempt {delivery.Attempts} started at {delivery.LastAttemptAt:O} never recorded its outcome; sent again";
            logger.LogWarning("Ticket of {RegistrationId}: attempt {Attempt} never recorded its outcome; sending again", delivery.RegistrationId, delivery.Attempts);
            await TryRecordAnomalyAsync(AnomalyKind.TicketResentAfterUnknownOutcome, delivery.EventId, delivery.RegistrationId,
                $"Attempt {delivery.Attempts} (started {delivery.LastAttemptAt:O}) ended without a recorded outcome; WhatsApp has no idempotency key, so the member may receive the ticket twice.");
        }

        var attempt = await database.RunAsync("ticket_mark_sending", connection =>
            connection.ExecuteScalarAsync<int?>(MarkSending, new
            {
                delivery.RegistrationId,
                Now = now,
                Note = note,
                ExpectedStatus = delivery.Status,
                ExpectedAttempts = delivery.Attempts,
            }), cancellationToken);
        if (attempt is not { } number)
        {
            throw new TicketRetryLaterException($"Ticket delivery {delivery.RegistrationId} changed while this worker held the lease.");
        }

        return await SendAsync(delivery, number, lease, cancellationToken);
    }

    private async Task<TicketDeliveryOutcome> SendAsync(DeliveryRow delivery, int attempt, TicketLease lease, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        string? ticketBlob = null;
        string? mediaId = null;
        var sendStarted = false;
        string wamid;
        try
        {
            var png = TicketQrCode.RenderPng(signer.CreateToken(delivery.RegistrationId, delivery.EventId));
            lease.ThrowIfLost();
            ticketBlob = await blobs.SaveTicketAsync(delivery.RegistrationId, png, cancellationToken);
            lease.ThrowIfLost();
            mediaId = await whatsApp.UploadPngAsync(png, $"ticket-{delivery.RegistrationId:N}.png", cancellationToken);
            lease.ThrowIfLost();
            sendStarted = true;
            // Not cancelled by a lost lease: once the request is out, cutting it short only hides its outcome.
            wamid = await whatsApp.SendTemplateAsync(delivery.PhoneE164, mediaId, BodyParameters(delivery), cancellationToken);
        }
        catch (WhatsAppException e) when (e.Kind == WhatsAppFailureKind.Permanent)
        {
            metrics.TicketSend("permanent_failure", Stopwatch.GetElapsedTime(started));
            logger.LogError("Ticket of {RegistrationId} failed for good on attempt {Attempt}: {Reason}", delivery.RegistrationId, attempt, e.Reason);
            await database.RunAsync("ticket_mark_failed", connection => connection.ExecuteAsync(MarkFailed, new
            {
                delivery.RegistrationId,
                Error = Truncate(e.Reason),
                MediaId = mediaId,
                TicketBlob = ticketBlob,
                Now = clock.GetUtcNow().UtcDateTime,
                ExpectedStatus = "sending",
                ExpectedAttempts = attempt,
            }), CancellationToken.None);
            await TryRecordAnomalyAsync(AnomalyKind.TicketFailed, delivery.EventId, delivery.RegistrationId, $"Ticket not delivered: {Truncate(e.Reason)}");
            return TicketDeliveryOutcome.Failed;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Did WhatsApp possibly act? Only if the send request went out without a definite refusal.
            var outcomeUnknown = sendStarted && e is not WhatsAppException { OutcomeKnown: true };
            var reason = e is WhatsAppException w ? w.Reason : $"{e.GetType().Name}: {e.Message}";
            metrics.TicketSend("transient_failure", Stopwatch.GetElapsedTime(started));
            logger.LogWarning(e, "Ticket of {RegistrationId} attempt {Attempt} failed ({Outcome}); the message will be retried",
                delivery.RegistrationId, attempt, outcomeUnknown ? "outcome unknown" : "nothing sent");
            await database.RunAsync("ticket_mark_retryable", connection => connection.ExecuteAsync(MarkRetryable, new
            {
                delivery.RegistrationId,
                Status = outcomeUnknown ? "sending" : "queued",
                Error = Truncate($"attempt {attempt}: {reason}"),
                MediaId = mediaId,
                TicketBlob = ticketBlob,
                Now = clock.GetUtcNow().UtcDateTime,
                Attempt = attempt,
            }), CancellationToken.None);
            throw new TicketRetryLaterException($"Ticket of {delivery.RegistrationId} attempt {attempt} failed: {reason}", (e as WhatsAppException)?.RetryAfter, e);
        }

        metrics.TicketSend("sent", Stopwatch.GetElapsedTime(started));
        return await RecordSentAsync(delivery, attempt, wamid, mediaId, ticketBlob);
    }

    /// <summary>
    /// The message is out; failing to record it would lead to a second message later, so this
    /// tries harder than usual and never asks for a retry of the queue message.
    /// </summary>
    private async Task<TicketDeliveryOutcome> RecordSentAsync(DeliveryRow delivery, int attempt, string wamid, string mediaId, string? ticketBlob)
    {
        for (var round = 1; ; round++)
        {
            try
            {
                var updated = await database.RunAsync("ticket_mark_sent", connection => connection.ExecuteAsync(MarkSent, new
                {
                    delivery.RegistrationId,
                    Wamid = wamid,
                    MediaId = mediaId,
                    TicketBlob = ticketBlob,
                    Now = clock.GetUtcNow().UtcDateTime,
                    Attempt = attempt,
                }), CancellationToken.None);
                if (updated == 0)
                {
                    logger.LogError("Ticket of {RegistrationId} sent as {Wamid} but attempt {Attempt} was overtaken by another worker", delivery.RegistrationId, wamid, attempt);
                    await TryRecordAnomalyAsync(AnomalyKind.TicketSentTwiceSuspected, delivery.EventId, delivery.RegistrationId,
                        $"Attempt {attempt} sent {wamid} after another worker had moved the delivery on (lease lost).");
                    return TicketDeliveryOutcome.SentUnrecorded;
                }

                logger.LogInformation("Ticket of {RegistrationId} sent as {Wamid} on attempt {Attempt}", delivery.RegistrationId, wamid, attempt);
                return TicketDeliveryOutcome.Sent;
            }
            catch (DependencyUnavailableException e) when (round < 3)
            {
                logger.LogWarning(e, "Ticket of {RegistrationId} sent as {Wamid}; recording it failed, trying again", delivery.RegistrationId, wamid);
                await Task.Delay(TimeSpan.FromSeconds(round), clock);
            }
            catch (DependencyUnavailableException e)
            {
                logger.LogError(e, "Ticket of {RegistrationId} sent as {Wamid} on attempt {Attempt} but NOT recorded; it stays 'sending'",
                    delivery.RegistrationId, wamid, attempt);
                return TicketDeliveryOutcome.SentUnrecorded;
            }
        }
    }

    private async Task<TicketDeliveryOutcome> GiveUpAsync(DeliveryRow delivery, string reason)
    {
        logger.LogError("Ticket of {RegistrationId} given up: {Reason}", delivery.RegistrationId, reason);
        var updated = await database.RunAsync("ticket_mark_failed", connection => connection.ExecuteAsync(MarkFailed, new
        {
            delivery.RegistrationId,
            Error = Truncate(reason),
            MediaId = (string?)null,
            TicketBlob = (string?)null,
            Now = clock.GetUtcNow().UtcDateTime,
            ExpectedStatus = delivery.Status,
            ExpectedAttempts = delivery.Attempts,
        }), CancellationToken.None);
        if (updated == 0)
        {
            throw new TicketRetryLaterException($"Ticket delivery {delivery.RegistrationId} changed while this worker held the lease.");
        }

        metrics.TicketSend("permanent_failure", TimeSpan.Zero);
        await TryRecordAnomalyAsync(AnomalyKind.TicketFailed, delivery.EventId, delivery.RegistrationId, $"Ticket not delivered: {Truncate(reason)}");
        return TicketDeliveryOutcome.Failed;
    }

    /// <summary>The template's body: {{1}} member name, {{2}} event title, {{3}} event date in the event's time zone.</summary>
    private List<string> BodyParameters(DeliveryRow delivery)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(options.Value.EventTimeZone);
        var local = TimeZoneInfo.ConvertTimeFromUtc(DateTime.SpecifyKind(delivery.EventStartsAt, DateTimeKind.Utc), zone);
        return [TemplateText(delivery.MemberName), TemplateText(delivery.EventTitle), FormatEventDate(local)];
    }

    public static string FormatEventDate(DateTime local) =>
        local.ToString("ddd d MMM yyyy, h:mm tt", CultureInfo.InvariantCulture);

    /// <summary>WhatsApp refuses template text with newlines, tabs or more than four spaces in a row.</summary>
    private static string TemplateText(string text) =>
        string.Join(' ', text.Split([' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries));

    private static bool IsPossibleE164(string phone)
    {
        try
        {
            return Phones.IsPossibleNumber(Phones.Parse(phone, null));
        }
        catch (NumberParseException)
        {
            return false;
        }
    }

    private Task<DeliveryRow?> ReadAsync(Guid registrationId, CancellationToken cancellationToken) =>
        database.RunAsync("ticket_read", connection =>
            connection.QuerySingleOrDefaultAsync<DeliveryRow>(ReadDelivery, new { RegistrationId = registrationId }), cancellationToken);

    private async Task TryRecordAnomalyAsync(AnomalyKind kind, Guid? eventId, Guid registrationId, string detail)
    {
        try
        {
            await database.RunAsync("ticket_anomaly", connection => AnomalyLog.RecordAsync(connection, null,
                new Anomaly(kind, detail, eventId, registrationId), clock.GetUtcNow().UtcDateTime), CancellationToken.None);
        }
        catch (DependencyUnavailableException e)
        {
            logger.LogError(e, "Anomaly {Kind} for {RegistrationId} could not be recorded", kind, registrationId);
        }
    }

    private static string Truncate(string text) => text.Length > 1000 ? text[..1000] : text;

    private sealed class DeliveryRow
    {
        public Guid RegistrationId { get; init; }
        public string Status { get; init; } = "";
        public int Attempts { get; init; }
        public DateTime? LastAttemptAt { get; init; }
        public string? LastError { get; init; }
        public Guid EventId { get; init; }
        public string RegistrationStatus { get; init; } = "";
        public string MemberName { get; init; } = "";
        public string PhoneE164 { get; init; } = "";
        public string EventTitle { get; init; } = "";
        public DateTime EventStartsAt { get; init; }
    }
}
