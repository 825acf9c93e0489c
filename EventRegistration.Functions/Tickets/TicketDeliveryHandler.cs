using System.Diagnostics;
using System.Globalization;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Storage;
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
    /// <summary>WhatsApp accepted the message but the wamid could not be recorded (database down, or overtaken); logged and flagged.</summary>
    SentUnrecorded,
    /// <summary>The ticket had been sent before: nothing was sent.</summary>
    AlreadySent,
    /// <summary>The delivery had failed for good before: nothing was sent.</summary>
    AlreadyFailed,
    /// <summary>The ticket no longer admits (its refund is owed, its event cancelled, its payment back): not sent, and it never will be.</summary>
    Withheld,
    /// <summary>This call found a permanent reason not to send (WhatsApp refusal, bad recipient, too many attempts).</summary>
    Failed,
    /// <summary>No delivery row exists for the registration; recorded as an anomaly.</summary>
    NoDelivery,
    /// <summary>This attempt failed, or a send in doubt must wait: the next attempt is recorded and its delayed message is on the queue.</summary>
    RetryScheduled,
    /// <summary>A copy of the message came before the delivery's scheduled attempt, whose own message is on its way: nothing done.</summary>
    NotDue,
    /// <summary>Another instance holds the ticket's lease and so owns the delivery now: nothing done (the reconciliation covers a holder that dies).</summary>
    LeaseHeldElsewhere,
    /// <summary>Another worker moved the delivery on while this one worked (a lease lost unnoticed): nothing more done.</summary>
    Overtaken,
}

/// <summary>
/// Delivers one ticket: blob lease first, then the state machine of <see cref="TicketDeliveries"/>.
/// The attempt is committed as <c>sending</c> before WhatsApp is called, because the send has no
/// idempotency key. A failed attempt is not handed back to the queue runtime (whose dequeue count
/// would poison the message within minutes): <see cref="DeliveryRetryPolicy"/> decides, the next
/// attempt's time is recorded and one delayed message is put on the queue, and the invocation
/// completes. Only a failure to record or enqueue that retry (database or storage down) throws, so
/// the runtime brings the message back.
/// </summary>
public sealed class TicketDeliveryHandler(
    TicketDeliveries deliveries,
    Database database,
    TicketLocks locks,
    TicketBlobs blobs,
    TicketSigner signer,
    WhatsAppClient whatsApp,
    TicketQueue queue,
    SendingHolds holds,
    WhatsAppSendPace pace,
    IOptions<TicketOptions> options,
    RegistrationMetrics metrics,
    TimeProvider clock,
    ILogger<TicketDeliveryHandler> logger)
{
    private static readonly PhoneNumberUtil Phones = PhoneNumberUtil.GetInstance();

    public async Task<TicketDeliveryOutcome> DeliverAsync(Guid registrationId, CancellationToken cancellationToken)
    {
        using var scope = logger.BeginPaymentScope(registrationId: registrationId);
        var delivery = await deliveries.ReadAsync(registrationId, cancellationToken);
        if (delivery is null)
        {
            logger.LogError("Ticket message for {RegistrationId}, which has no ticket delivery", registrationId);
            await TryRecordAnomalyAsync(AnomalyKind.TicketWithoutDelivery, null, registrationId,
                "A ticket queue message names a registration that has no ticket delivery row.");
            metrics.TicketSkipped("no_delivery");
            return TicketDeliveryOutcome.NoDelivery;
        }

        if (Settled(delivery) is { } settled)
        {
            return settled;
        }

        await using var lease = await locks.TryAcquireAsync(registrationId, firstDelivery: delivery.LastAttemptAt is null, cancellationToken);
        if (lease is null)
        {
            // The holder owns the delivery: it sends, or schedules the retry itself. Whoever holds it
            // may also have finished just now.
            var current = await deliveries.ReadAsync(registrationId, cancellationToken);
            if (current is not null && Settled(current) is { } done)
            {
                return done;
            }

            metrics.TicketSkipped("lease_taken");
            logger.LogInformation("Ticket lease of {RegistrationId} is held by another instance, which owns the delivery; this copy ends", registrationId);
            return TicketDeliveryOutcome.LeaseHeldElsewhere;
        }

        // Read again under the lease: this is the state to act on.
        delivery = await deliveries.ReadAsync(registrationId, cancellationToken)
            ?? throw new InvalidOperationException($"Ticket delivery {registrationId} vanished.");
        return Settled(delivery) ?? await AttemptAsync(delivery, lease, cancellationToken);
    }

    /// <summary>Finished, or not yet due: either way this message has nothing to do.</summary>
    private TicketDeliveryOutcome? Settled(TicketDelivery delivery)
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
            case "withheld":
                metrics.TicketSkipped("already_withheld");
                logger.LogInformation("Ticket of {RegistrationId} was withheld: it no longer admits; nothing to do", delivery.RegistrationId);
                return TicketDeliveryOutcome.Withheld;
        }

        if (!DeliveryRetryPolicy.IsDue(delivery.NextAttemptAt, clock.GetUtcNow().UtcDateTime))
        {
            metrics.TicketSkipped("not_due");
            logger.LogInformation("Ticket of {RegistrationId}: next attempt is scheduled for {NextAttemptAt:O}; this copy ends",
                delivery.RegistrationId, delivery.NextAttemptAt);
            return TicketDeliveryOutcome.NotDue;
        }

        return null;
    }

    private async Task<TicketDeliveryOutcome> AttemptAsync(TicketDelivery delivery, TicketLease lease, CancellationToken cancellationToken, bool readAgain = true)
    {
        var settings = options.Value;
        var now = clock.GetUtcNow().UtcDateTime;

        if (TicketVerifier.RevokedBecause(delivery.RegistrationStatus, delivery.EventStatus, delivery.RefundStatus) is { } revoked)
        {
            // The door would refuse it (the refund owed, the event cancelled, the payment back): a
            // ticket the member would be turned away with is not sent. Not a failure: no anomaly.
            return await WithholdAsync(delivery, revoked, now, cancellationToken);
        }

        if (!IsPossibleE164(delivery.PhoneE164))
        {
            return await GiveUpAsync(delivery, "invalid_recipient: the member's phone number is not a possible E.164 number");
        }

        if (delivery.Attempts >= settings.MaxAttempts)
        {
            var doubt = delivery.Status == "sending" ? " (its outcome is unknown: the member may have the ticket)" : "";
            return await GiveUpAsync(delivery, $"gave up after {delivery.Attempts} attempts; last error{doubt}: {delivery.LastError}");
        }

        if (await holds.OpenHoldAsync(cancellationToken) is { } hold)
        {
            var at = now + DeliveryRetryPolicy.HeldRecheck;
            metrics.TicketSkipped("sending_on_hold");
            logger.LogWarning("Ticket of {RegistrationId} not sent: sending is on hold ({Hold}); next look at {NextAttemptAt:O}", delivery.RegistrationId, hold, at);
            return await deliveries.PostponeAsync(delivery, $"sending on hold: {hold}", at, now, cancellationToken)
                ? await EnqueueRetryAsync(delivery.RegistrationId, delivery.Attempts, at, now)
                : TicketDeliveryOutcome.Overtaken;
        }

        string? note = null;
        if (delivery.Status == "sending")
        {
            var resendable = DeliveryRetryPolicy.ResendableAt(delivery.LastAttemptAt ?? DateTime.MinValue, settings);
            if (now < resendable)
            {
                // Nobody scheduled this send in doubt (its worker died, or could not record the wamid),
                // or its scheduled message came within the early tolerance: schedule it for the threshold.
                metrics.TicketSkipped("unfinished_attempt");
                logger.LogWarning("Ticket of {RegistrationId}: attempt {Attempt} has no recorded outcome; it may be resent from {ResendableAt:O}",
                    delivery.RegistrationId, delivery.Attempts, resendable);
                return await deliveries.ScheduleResendAsync(delivery, resendable, now, cancellationToken)
                    ? await EnqueueRetryAsync(delivery.RegistrationId, delivery.Attempts, resendable, now)
                    : TicketDeliveryOutcome.Overtaken;
            }

            note = $"attempt {delivery.Attempts} started at {delivery.LastAttemptAt:O} never recorded its outcome; sent again";
            logger.LogWarning("Ticket of {RegistrationId}: attempt {Attempt} never recorded its outcome; sending again", delivery.RegistrationId, delivery.Attempts);
            await TryRecordAnomalyAsync(AnomalyKind.TicketResentAfterUnknownOutcome, delivery.EventId, delivery.RegistrationId,
                $"Attempt {delivery.Attempts} (started {delivery.LastAttemptAt:O}) ended without a recorded outcome; WhatsApp has no idempotency key, so the member may receive the ticket twice.");
        }

        if (await deliveries.MarkSendingAsync(delivery, note, now, cancellationToken) is not { } attempt)
        {
            // Either the registration changed since the read (a refund owed, the event cancelled), and
            // the ticket is judged again on what is there now, or another worker moved the delivery on.
            if (readAgain && await deliveries.ReadAsync(delivery.RegistrationId, cancellationToken) is { } fresh
                && fresh.Status == delivery.Status && fresh.Attempts == delivery.Attempts)
            {
                return Settled(fresh) ?? await AttemptAsync(fresh, lease, cancellationToken, readAgain: false);
            }

            logger.LogInformation("Ticket delivery {RegistrationId} changed while this worker held the lease; this copy ends", delivery.RegistrationId);
            return TicketDeliveryOutcome.Overtaken;
        }

        return await SendAsync(delivery, attempt, now, lease, cancellationToken);
    }

    private async Task<TicketDeliveryOutcome> SendAsync(TicketDelivery delivery, int attempt, DateTime startedAt, TicketLease lease, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        string? ticketBlob = null;
        string? mediaId = null;
        var sendStarted = false;
        string? wamid = null;
        DeliveryFailure? failure = null;
        try
        {
            var png = TicketQrCode.RenderPng(signer.CreateToken(delivery.RegistrationId, delivery.EventId));
            lease.ThrowIfLost();
            ticketBlob = await blobs.SaveTicketAsync(delivery.RegistrationId, png, cancellationToken);
            lease.ThrowIfLost();
            mediaId = await whatsApp.UploadPngAsync(png, $"ticket-{delivery.RegistrationId:N}.png", cancellationToken);
            lease.ThrowIfLost();
            await pace.WaitForTurnAsync(delivery.PhoneE164, cancellationToken);
            lease.ThrowIfLost();
            sendStarted = true;
            // Not cancelled by a lost lease: once the request is out, cutting it short only hides its outcome.
            wamid = await whatsApp.SendTemplateAsync(delivery.PhoneE164, mediaId, BodyParameters(delivery), cancellationToken);
        }
        catch (WhatsAppException e)
        {
            failure = e.Failure;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            failure = sendStarted ? DeliveryFailure.DuringSend(e) : DeliveryFailure.BeforeSend(e);
        }

        if (failure is null)
        {
            metrics.TicketSend("sent", Stopwatch.GetElapsedTime(started));
            return await RecordSentAsync(delivery, attempt, wamid!, mediaId!, ticketBlob);
        }

        if (failure.Class == DeliveryFailureClass.RateLimited)
        {
            await pace.OnRefusedAsync(failure, delivery.PhoneE164);
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var decision = DeliveryRetryPolicy.Decide(failure, attempt, startedAt, now, options.Value, Random.Shared.NextDouble());
        metrics.TicketSend(failure.Class switch
        {
            DeliveryFailureClass.Permanent => "permanent_failure",
            DeliveryFailureClass.OutcomeUnknown => "outcome_unknown",
            _ => "transient_failure",
        }, Stopwatch.GetElapsedTime(started));

        if (failure.Class == DeliveryFailureClass.Permanent && DeliveryRetryPolicy.StopsAllSends(failure.Category))
        {
            // Every ticket would meet the same refusal: hold sending, and let this one wait with the rest.
            logger.LogError("Ticket of {RegistrationId}: WhatsApp refused with {Category}; ticket sending is put on hold", delivery.RegistrationId, failure.Category);
            await holds.OpenAsync(failure.Category, failure.Reason, delivery.EventId, delivery.RegistrationId, now);
            var heldUntil = now + DeliveryRetryPolicy.HeldRecheck;
            return await deliveries.ScheduleRetryAsync(delivery.RegistrationId, attempt, inDoubt: false,
                    $"attempt {attempt}: {failure.Category}: {failure.Reason} (sending on hold)", heldUntil, mediaId, ticketBlob, now, held: true)
                ? await EnqueueRetryAsync(delivery.RegistrationId, attempt, heldUntil, now)
                : TicketDeliveryOutcome.Overtaken;
        }

        if (decision is RetryDecision.GiveUp giveUp)
        {
            logger.LogError("Ticket of {RegistrationId} failed for good on attempt {Attempt}: {Reason}", delivery.RegistrationId, attempt, giveUp.Reason);
            if (!await deliveries.MarkFailedAsync(delivery.RegistrationId, "sending", attempt, giveUp.Reason, mediaId, ticketBlob, now))
            {
                return TicketDeliveryOutcome.Overtaken;
            }

            await TryRecordAnomalyAsync(AnomalyKind.TicketFailed, delivery.EventId, delivery.RegistrationId, $"Ticket not delivered: {TicketDeliveries.Truncate(giveUp.Reason)}");
            return TicketDeliveryOutcome.Failed;
        }

        var retry = (RetryDecision.RetryAt)decision;
        logger.LogWarning("Ticket of {RegistrationId} attempt {Attempt} failed ({FailureClass}: {Category}); next attempt at {NextAttemptAt:O}",
            delivery.RegistrationId, attempt, failure.Class, failure.Category, retry.At);
        var recorded = await deliveries.ScheduleRetryAsync(delivery.RegistrationId, attempt, retry.InDoubt,
            $"attempt {attempt}: {failure.Category}: {failure.Reason}", retry.At, mediaId, ticketBlob, now, spendsAttempt: retry.SpendsAttempt);
        var counted = retry.SpendsAttempt || retry.InDoubt ? attempt : attempt - 1;
        return recorded ? await EnqueueRetryAsync(delivery.RegistrationId, counted, retry.At, now) : TicketDeliveryOutcome.Overtaken;
    }

    /// <summary>
    /// The scheduled attempt's own message. If the queue cannot take it, the schedule is withdrawn
    /// and the invocation fails, so the runtime brings this message back instead.
    /// </summary>
    private async Task<TicketDeliveryOutcome> EnqueueRetryAsync(Guid registrationId, int attempt, DateTime at, DateTime now)
    {
        try
        {
            await queue.SendLaterAsync(new TicketDeliveryMessage(registrationId), at - now, CancellationToken.None);
            return TicketDeliveryOutcome.RetryScheduled;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning(e, "Ticket of {RegistrationId}: the retry could not be put on the queue; the message will come back", registrationId);
            try
            {
                await deliveries.UnscheduleAsync(registrationId, attempt, at);
            }
            catch (DependencyUnavailableException inner)
            {
                // The copy that comes back finds itself early and ends; the reconciliation re-enqueues the delivery.
                logger.LogWarning(inner, "Ticket of {RegistrationId}: the unsent retry's schedule could not be withdrawn", registrationId);
            }

            throw new TicketRetryLaterException($"The retry of ticket {registrationId} could not be enqueued.", at - now, e);
        }
    }

    /// <summary>
    /// The message is out; failing to record it would lead to a second message later, so this
    /// tries harder than usual and never asks for a retry of the queue message.
    /// </summary>
    private async Task<TicketDeliveryOutcome> RecordSentAsync(TicketDelivery delivery, int attempt, string wamid, string mediaId, string? ticketBlob)
    {
        for (var round = 1; ; round++)
        {
            try
            {
                if (!await deliveries.MarkSentAsync(delivery.RegistrationId, attempt, wamid, mediaId, ticketBlob, clock.GetUtcNow().UtcDateTime))
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

    private async Task<TicketDeliveryOutcome> WithholdAsync(TicketDelivery delivery, string revoked, DateTime now, CancellationToken cancellationToken)
    {
        var doubt = delivery.Status == "sending" ? $"; attempt {delivery.Attempts}'s outcome is unknown: the member may have the ticket" : "";
        var reason = $"withheld: the ticket no longer admits ({revoked}){doubt}";
        if (!await deliveries.WithholdAsync(delivery, reason, now, cancellationToken))
        {
            return TicketDeliveryOutcome.Overtaken;
        }

        metrics.TicketSkipped("withheld");
        logger.LogWarning("Ticket of {RegistrationId} withheld: it no longer admits ({Revoked})", delivery.RegistrationId, revoked);
        return TicketDeliveryOutcome.Withheld;
    }

    private async Task<TicketDeliveryOutcome> GiveUpAsync(TicketDelivery delivery, string reason)
    {
        logger.LogError("Ticket of {RegistrationId} given up: {Reason}", delivery.RegistrationId, reason);
        if (!await deliveries.MarkFailedAsync(delivery.RegistrationId, delivery.Status, delivery.Attempts, reason, null, null, clock.GetUtcNow().UtcDateTime))
        {
            return TicketDeliveryOutcome.Overtaken;
        }

        metrics.TicketSend("permanent_failure", TimeSpan.Zero);
        await TryRecordAnomalyAsync(AnomalyKind.TicketFailed, delivery.EventId, delivery.RegistrationId, $"Ticket not delivered: {TicketDeliveries.Truncate(reason)}");
        return TicketDeliveryOutcome.Failed;
    }

    /// <summary>The template's body: {{1}} member name, {{2}} event title, {{3}} event date in the event's time zone.</summary>
    private List<string> BodyParameters(TicketDelivery delivery)
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
}
