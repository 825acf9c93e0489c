using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Infrastructure.Telemetry;
using EventRegistration.Functions.Tickets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MimeKit;

namespace EventRegistration.Functions.EmailFallback;

public enum TicketEmailOutcome
{
    Sent,
    /// <summary>The server took the e-mail but recording it failed, or another worker had moved on; logged and flagged.</summary>
    SentUnrecorded,
    AlreadySent,
    AlreadyFailed,
    /// <summary>The ticket no longer admits (its refund is owed, its event cancelled, its payment back): not sent, and it never will be.</summary>
    Withheld,
    Failed,
    /// <summary>No fallback was claimed for this registration: nothing to send.</summary>
    NoFallback,
    RetryScheduled,
    NotDue,
    Overtaken,
}

/// <summary>
/// Sends one ticket's fallback e-mail, on a queue message <c>{"registrationId":…,"channel":"email"}</c>.
/// The flow mirrors <see cref="TicketDeliveryHandler"/>: the attempt is committed as <c>sending</c>
/// (compare and set, so one worker of many sends) before the SMTP call; a failure is classified by
/// <see cref="TicketMailer"/> and <see cref="DeliveryRetryPolicy.Decide"/> says what follows, with the
/// ticket retry settings (Tickets__RetryBaseSeconds, MaxAttempts, ResendUnfinishedAfterSeconds); a
/// retry is one delayed message on the ticket queue. Only a database or queue failure throws.
/// </summary>
public sealed class TicketEmailHandler(
    TicketEmailFallbacks fallbacks,
    TicketMailer mailer,
    TicketSigner signer,
    TicketQueue queue,
    Database database,
    IOptions<EmailFallbackOptions> emailOptions,
    IOptions<TicketOptions> ticketOptions,
    TimeProvider clock,
    ILogger<TicketEmailHandler> logger)
{
    public async Task<TicketEmailOutcome> SendAsync(Guid registrationId, CancellationToken cancellationToken)
    {
        using var scope = logger.BeginPaymentScope(registrationId: registrationId);
        return await SendAsync(registrationId, readAgain: true, cancellationToken);
    }

    private async Task<TicketEmailOutcome> SendAsync(Guid registrationId, bool readAgain, CancellationToken cancellationToken)
    {
        var fallback = await fallbacks.ReadAsync(registrationId, cancellationToken);
        if (fallback is null)
        {
            logger.LogWarning("E-mail message for {RegistrationId}, which has no e-mail fallback; nothing sent", registrationId);
            return TicketEmailOutcome.NoFallback;
        }

        switch (fallback.Status)
        {
            case "sent":
                logger.LogInformation("Ticket e-mail of {RegistrationId} already sent; nothing to do", registrationId);
                return TicketEmailOutcome.AlreadySent;
            case "failed":
                return TicketEmailOutcome.AlreadyFailed;
            case "withheld":
                return TicketEmailOutcome.Withheld;
        }

        var now = clock.GetUtcNow().UtcDateTime;
        if (!DeliveryRetryPolicy.IsDue(fallback.NextAttemptAt, now))
        {
            logger.LogInformation("Ticket e-mail of {RegistrationId}: next attempt is scheduled for {NextAttemptAt:O}; this copy ends", registrationId, fallback.NextAttemptAt);
            return TicketEmailOutcome.NotDue;
        }

        var settings = ticketOptions.Value;
        if (TicketVerifier.RevokedBecause(fallback.RegistrationStatus, fallback.EventStatus, fallback.RefundStatus) is { } revoked)
        {
            // The door would refuse it: as on WhatsApp (TicketDeliveryHandler), it is not sent.
            var doubt = fallback.Status == "sending" ? $"; attempt {fallback.Attempts}'s outcome is unknown: the member may have the e-mail" : "";
            if (!await fallbacks.WithholdAsync(fallback, $"withheld: the ticket no longer admits ({revoked}){doubt}", now, cancellationToken))
            {
                return TicketEmailOutcome.Overtaken;
            }

            logger.LogWarning("Ticket e-mail of {RegistrationId} withheld: the ticket no longer admits ({Revoked})", registrationId, revoked);
            return TicketEmailOutcome.Withheld;
        }

        if (!emailOptions.Value.IsConfigured)
        {
            return await GiveUpAsync(fallback, "the e-mail fallback is no longer configured (EmailFallback__Host is empty)", anomaly: true);
        }

        if (fallback.Email is null || !MailboxAddress.TryParse(fallback.Email, out var address) || !address.Address.Contains('@'))
        {
            return await GiveUpAsync(fallback, "the member's e-mail address is missing or not an address", anomaly: true);
        }

        if (fallback.Attempts >= settings.MaxAttempts)
        {
            return await GiveUpAsync(fallback, $"gave up after {fallback.Attempts} attempts; last error: {fallback.LastError}", anomaly: true);
        }

        string? note = null;
        if (fallback.Status == "sending")
        {
            var resendable = DeliveryRetryPolicy.ResendableAt(fallback.LastAttemptAt ?? DateTime.MinValue, settings);
            if (now < resendable)
            {
                logger.LogWarning("Ticket e-mail of {RegistrationId}: attempt {Attempt} has no recorded outcome; it may be sent again from {ResendableAt:O}",
                    registrationId, fallback.Attempts, resendable);
                return await fallbacks.ScheduleResendAsync(fallback, resendable, now, cancellationToken)
                    ? await EnqueueRetryAsync(registrationId, fallback.Attempts, resendable, now)
                    : TicketEmailOutcome.Overtaken;
            }

            note = $"attempt {fallback.Attempts} started at {fallback.LastAttemptAt:O} never recorded its outcome; sent again";
            await TryRecordAnomalyAsync(AnomalyKind.TicketResentAfterUnknownOutcome, fallback,
                $"E-mail attempt {fallback.Attempts} (started {fallback.LastAttemptAt:O}) ended without a recorded outcome; it is sent again with the same Message-ID, so the member may see it twice.");
        }

        if (await fallbacks.MarkSendingAsync(fallback, note, now, cancellationToken) is not { } attempt)
        {
            // The registration changed since the read (a refund owed, the event cancelled): judged
            // again on what is there now. Otherwise another worker took it.
            if (readAgain && await fallbacks.ReadAsync(registrationId, cancellationToken) is { } fresh
                && fresh.Status == fallback.Status && fresh.Attempts == fallback.Attempts)
            {
                return await SendAsync(registrationId, readAgain: false, cancellationToken);
            }

            logger.LogInformation("Ticket e-mail of {RegistrationId} was taken by another worker; this copy ends", registrationId);
            return TicketEmailOutcome.Overtaken;
        }

        return await AttemptAsync(fallback, address.Address, attempt, now, cancellationToken);
    }

    private async Task<TicketEmailOutcome> AttemptAsync(TicketEmailFallback fallback, string to, int attempt, DateTime startedAt, CancellationToken cancellationToken)
    {
        MimeMessage message;
        try
        {
            var png = TicketQrCode.RenderPng(signer.CreateToken(fallback.RegistrationId, fallback.EventId));
            message = TicketEmail.Compose(fallback, emailOptions.Value.Sender, to, png,
                TicketEmail.EventDate(fallback.EventStartsAt, fallback.EventTimeZone, ticketOptions.Value.EventTimeZone));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return await AfterFailureAsync(fallback, attempt, startedAt, DeliveryFailure.BeforeSend(e));
        }

        try
        {
            await mailer.SendAsync(message, cancellationToken);
        }
        catch (TicketEmailException e)
        {
            return await AfterFailureAsync(fallback, attempt, startedAt, e.Failure);
        }

        return await RecordSentAsync(fallback, attempt);
    }

    private async Task<TicketEmailOutcome> AfterFailureAsync(TicketEmailFallback fallback, int attempt, DateTime startedAt, DeliveryFailure failure)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var decision = DeliveryRetryPolicy.Decide(failure, attempt, startedAt, now, ticketOptions.Value, Random.Shared.NextDouble());
        if (decision is RetryDecision.GiveUp giveUp)
        {
            logger.LogError("Ticket e-mail of {RegistrationId} failed for good on attempt {Attempt}: {Category}", fallback.RegistrationId, attempt, failure.Category);
            if (!await fallbacks.MarkFailedAsync(fallback.RegistrationId, "sending", attempt, giveUp.Reason, now))
            {
                return TicketEmailOutcome.Overtaken;
            }

            await TryRecordAnomalyAsync(AnomalyKind.TicketEmailFailed, fallback,
                $"The ticket could not be sent by e-mail either: {TicketDeliveries.Truncate(giveUp.Reason)}. Reach the member another way.");
            return TicketEmailOutcome.Failed;
        }

        var retry = (RetryDecision.RetryAt)decision;
        logger.LogWarning("Ticket e-mail of {RegistrationId} attempt {Attempt} failed ({FailureClass}: {Category}); next attempt at {NextAttemptAt:O}",
            fallback.RegistrationId, attempt, failure.Class, failure.Category, retry.At);
        return await fallbacks.ScheduleRetryAsync(fallback.RegistrationId, attempt, retry.InDoubt, $"attempt {attempt}: {failure.Category}: {failure.Reason}", retry.At, now)
            ? await EnqueueRetryAsync(fallback.RegistrationId, attempt, retry.At, now)
            : TicketEmailOutcome.Overtaken;
    }

    /// <summary>The server took the e-mail; failing to record it would send it again later, so this tries a little harder.</summary>
    private async Task<TicketEmailOutcome> RecordSentAsync(TicketEmailFallback fallback, int attempt)
    {
        for (var round = 1; ; round++)
        {
            try
            {
                if (!await fallbacks.MarkSentAsync(fallback.RegistrationId, attempt, clock.GetUtcNow().UtcDateTime))
                {
                    await TryRecordAnomalyAsync(AnomalyKind.TicketSentTwiceSuspected, fallback,
                        $"E-mail attempt {attempt} was taken by the server after another worker had moved the fallback on.");
                    return TicketEmailOutcome.SentUnrecorded;
                }

                logger.LogInformation("Ticket of {RegistrationId} sent by e-mail on attempt {Attempt}", fallback.RegistrationId, attempt);
                return TicketEmailOutcome.Sent;
            }
            catch (DependencyUnavailableException) when (round < 3)
            {
                await Task.Delay(TimeSpan.FromSeconds(round), clock);
            }
            catch (DependencyUnavailableException e)
            {
                logger.LogError(e, "Ticket e-mail of {RegistrationId} sent on attempt {Attempt} but NOT recorded; it stays 'sending'", fallback.RegistrationId, attempt);
                return TicketEmailOutcome.SentUnrecorded;
            }
        }
    }

    private async Task<TicketEmailOutcome> EnqueueRetryAsync(Guid registrationId, int attempt, DateTime at, DateTime now)
    {
        try
        {
            await queue.SendLaterAsync(TicketDeliveryMessage.Email(registrationId), at - now, CancellationToken.None);
            return TicketEmailOutcome.RetryScheduled;
        }
        catch (Exception e) when (TicketQueue.IsUnavailable(e))
        {
            logger.LogWarning("Ticket e-mail of {RegistrationId}: the retry could not be put on the queue; the message will come back", registrationId);
            try
            {
                await fallbacks.UnscheduleAsync(registrationId, attempt, at);
            }
            catch (DependencyUnavailableException)
            {
                // The copy that comes back finds itself early and ends; the reconciliation re-enqueues the fallback.
            }

            throw new TicketRetryLaterException($"The e-mail retry of ticket {registrationId} could not be enqueued.", at - now, e);
        }
    }

    private async Task<TicketEmailOutcome> GiveUpAsync(TicketEmailFallback fallback, string reason, bool anomaly)
    {
        logger.LogError("Ticket e-mail of {RegistrationId} given up: {Reason}", fallback.RegistrationId, reason);
        if (!await fallbacks.MarkFailedAsync(fallback.RegistrationId, fallback.Status, fallback.Attempts, reason, clock.GetUtcNow().UtcDateTime))
        {
            return TicketEmailOutcome.Overtaken;
        }

        if (anomaly)
        {
            await TryRecordAnomalyAsync(AnomalyKind.TicketEmailFailed, fallback, $"The ticket could not be sent by e-mail either: {reason}. Reach the member another way.");
        }

        return TicketEmailOutcome.Failed;
    }

    private async Task TryRecordAnomalyAsync(AnomalyKind kind, TicketEmailFallback fallback, string detail)
    {
        try
        {
            await database.RunAsync("email_fallback_anomaly", connection => AnomalyLog.RecordAsync(connection, null,
                new Anomaly(kind, detail, fallback.EventId, fallback.RegistrationId), clock.GetUtcNow().UtcDateTime), CancellationToken.None);
        }
        catch (DependencyUnavailableException e)
        {
            logger.LogError(e, "Anomaly {Kind} for {RegistrationId} could not be recorded", kind, fallback.RegistrationId);
        }
    }
}
