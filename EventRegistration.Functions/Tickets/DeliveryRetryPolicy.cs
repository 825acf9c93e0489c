namespace EventRegistration.Functions.Tickets;

/// <summary>What a failed step of a ticket delivery means for the member.</summary>
public enum DeliveryFailureClass
{
    /// <summary>Nothing reached the member (WhatsApp unreachable, a server error on the media upload, storage trouble); try again later.</summary>
    Transient,
    /// <summary>WhatsApp refused for now and asked to slow down (HTTP 429, codes 130429, 131056, 80007, 4): nothing went out.</summary>
    RateLimited,
    /// <summary>The send may have reached the member (5xx, 408, timeout or an unreadable answer from the messages call).</summary>
    OutcomeUnknown,
    /// <summary>The same request will be refused again (recipient, template, credentials, any other 4xx): an operator must act.</summary>
    Permanent,
}

/// <summary>The two WhatsApp calls of a delivery; only the second can reach the member.</summary>
public enum WhatsAppCall
{
    Media,
    Messages,
}

/// <summary>A classified failure: its class, a short category for logs and last_error, what WhatsApp said and asked for.</summary>
public sealed record DeliveryFailure(DeliveryFailureClass Class, string Category, string Reason, int? Code = null, TimeSpan? RetryAfter = null)
{
    /// <summary>Nothing reached the member, whatever it was (storage, the QR, a lost lease): plain transient.</summary>
    public static DeliveryFailure BeforeSend(Exception e) =>
        new(DeliveryFailureClass.Transient, "not_sent", $"{e.GetType().Name}: {e.Message}");

    /// <summary>Something other than WhatsApp's answer broke once the send request had left: its outcome is unknown.</summary>
    public static DeliveryFailure DuringSend(Exception e) =>
        new(DeliveryFailureClass.OutcomeUnknown, "outcome_unknown", $"{e.GetType().Name}: {e.Message}");
}

/// <summary>How far one SMTP exchange of the e-mail fallback got when it failed: only after the recipients were accepted can the message have gone.</summary>
public enum SmtpStage
{
    Connect,
    SignIn,
    /// <summary>MAIL FROM / RCPT TO: the server has not taken the message yet.</summary>
    Envelope,
    /// <summary>Recipients accepted, the message being sent or its final answer awaited.</summary>
    Message,
}

/// <summary>What a <c>failed</c> delivery status says about the member and about sending.</summary>
public enum StatusFailureKind
{
    /// <summary>The number cannot receive it (not on WhatsApp, blocked, invalid): no retry helps; an operator reaches the member another way.</summary>
    Undeliverable,
    /// <summary>Refused for now (re-engagement window, per-user or pair-rate limits): a resend later may reach the member.</summary>
    NotNow,
    /// <summary>The template or the token is at fault: every ticket sent the same way will fail too.</summary>
    SendingBlocked,
    /// <summary>Any other code: recorded with WhatsApp's own words for an operator.</summary>
    Other,
}

public sealed record StatusFailure(StatusFailureKind Kind, string Category);

/// <summary>What to do after a failed attempt.</summary>
public abstract record RetryDecision
{
    /// <summary>
    /// Try again at <see cref="At"/>; the delivery stays <c>sending</c> when the last send is in doubt, else goes back to <c>queued</c>.
    /// An attempt WhatsApp only paced (<see cref="SpendsAttempt"/> false) is given back: it says nothing about the ticket.
    /// </summary>
    public sealed record RetryAt(DateTime At, bool InDoubt, bool SpendsAttempt = true) : RetryDecision;

    /// <summary>The delivery ends <c>failed</c> with this reason.</summary>
    public sealed record GiveUp(string Reason) : RetryDecision;
}

/// <summary>
/// The ticket delivery's retry policy, whole: which WhatsApp answers are transient, rate limits,
/// unknown outcomes or permanent (REFERENCE.md's table), when the next attempt is due, how
/// Retry-After applies, and when to give up. Pure functions; WhatsAppClient classifies with
/// <see cref="Classify"/> where the failure happens, the handler asks <see cref="Decide"/> what follows.
/// </summary>
public static class DeliveryRetryPolicy
{
    /// <summary>A scheduled message may surface this much before its due time (clocks of queue service and workers differ a little).</summary>
    public static readonly TimeSpan EarlyTolerance = TimeSpan.FromSeconds(5);

    /// <summary>No Retry-After is honoured beyond a day: a longer one is a misreading, and the queue keeps a message 7 days at most.</summary>
    public static readonly TimeSpan LongestDelay = TimeSpan.FromDays(1);

    private static readonly int[] RateLimitCodes = [130429, 131056, 80007, 4];

    /// <param name="status">The HTTP status WhatsApp answered, or null when no answer came.</param>
    /// <param name="code">Graph's <c>error.code</c>, when the answer had one.</param>
    /// <param name="requestLeft">False when the request certainly never reached WhatsApp (connection refused, open circuit).</param>
    public static (DeliveryFailureClass Class, string Category) Classify(WhatsAppCall call, int? status, int? code, bool requestLeft)
    {
        // Only the messages call can reach a member; a media upload in doubt costs an orphan image at worst.
        var inDoubt = call == WhatsAppCall.Messages ? DeliveryFailureClass.OutcomeUnknown : DeliveryFailureClass.Transient;
        if (status is null)
        {
            return requestLeft ? (inDoubt, "no_answer") : (DeliveryFailureClass.Transient, "unreachable");
        }

        if (status is >= 200 and < 300)
        {
            // A success without the id: accepted, perhaps, but not recorded.
            return (inDoubt, "unreadable_answer");
        }

        if (CategoryOf(code) is { } known)
        {
            return (known == "rate_limited" ? DeliveryFailureClass.RateLimited : DeliveryFailureClass.Permanent, known);
        }

        if (status == 429)
        {
            return (DeliveryFailureClass.RateLimited, "rate_limited");
        }

        if (status >= 500 || status == 408)
        {
            // A gateway error can come after Meta accepted the message.
            return call == WhatsAppCall.Messages ? (DeliveryFailureClass.OutcomeUnknown, "outcome_unknown") : (DeliveryFailureClass.Transient, "server_error");
        }

        // Any other refusal is a request WhatsApp will refuse again: an operator has to look.
        return (DeliveryFailureClass.Permanent, status is 401 or 403 ? "access_denied" : "rejected");
    }

    /// <summary>
    /// What a Graph error code means, for a refused send and for a <c>failed</c> delivery status
    /// alike: one catalogue of WhatsApp's codes. Null for a code this app gives no meaning of its own.
    /// </summary>
    public static string? CategoryOf(int? code) => code switch
    {
        int c when RateLimitCodes.Contains(c) => "rate_limited",
        131026 or 100 => "invalid_recipient",
        // Outside the 24-hour customer window, or the per-user marketing limit: not this number now.
        131047 or 131049 => "reengagement_required",
        132000 or 132001 or 132012 => "template_problem",
        132015 or 132016 => "template_paused",
        190 => "access_token_invalid",
        _ => null,
    };

    /// <summary>
    /// An SMTP failure of the e-mail fallback, classified where MailKit raised it. A reply code is the
    /// server's word: 4xx try later, 5xx refused for good (the address, the sender, or the sign-in).
    /// No reply (a dropped connection, a timeout, a protocol error) is transient before the
    /// recipients were accepted, and of unknown outcome after: the server may have taken the message.
    /// </summary>
    public static (DeliveryFailureClass Class, string Category) ClassifySmtp(SmtpStage stage, int? replyCode) => replyCode switch
    {
        >= 400 and < 500 => (DeliveryFailureClass.Transient, "smtp_try_later"),
        >= 500 when stage == SmtpStage.SignIn => (DeliveryFailureClass.Permanent, "smtp_sign_in_refused"),
        >= 500 when stage == SmtpStage.Connect => (DeliveryFailureClass.Permanent, "smtp_server_refused"),
        >= 500 => (DeliveryFailureClass.Permanent, "smtp_message_refused"),
        _ when stage == SmtpStage.Message => (DeliveryFailureClass.OutcomeUnknown, "smtp_outcome_unknown"),
        _ when stage == SmtpStage.Connect => (DeliveryFailureClass.Transient, "smtp_unreachable"),
        _ => (DeliveryFailureClass.Transient, "smtp_no_answer"),
    };

    /// <summary>How long a delivery waits, without spending an attempt, while sending is on hold.</summary>
    public static readonly TimeSpan HeldRecheck = TimeSpan.FromMinutes(15);

    /// <summary>Categories that fail every ticket sent alike (the template, the token): sending stops until an operator acts.</summary>
    public static bool StopsAllSends(string category) =>
        category is "template_problem" or "template_paused" or "access_token_invalid" or "access_denied";

    /// <summary>
    /// What a <c>failed</c> status webhook (the message was accepted, then not delivered) means for
    /// the ticket. Nothing is resent automatically from a status: an operator decides.
    /// </summary>
    public static StatusFailure ClassifyStatusFailure(int? code) => CategoryOf(code) switch
    {
        "invalid_recipient" => new StatusFailure(StatusFailureKind.Undeliverable, "invalid_recipient"),
        "reengagement_required" => new StatusFailure(StatusFailureKind.NotNow, "reengagement_required"),
        "rate_limited" => new StatusFailure(StatusFailureKind.NotNow, "rate_limited"),
        "template_problem" or "template_paused" => new StatusFailure(StatusFailureKind.SendingBlocked, CategoryOf(code)!),
        "access_token_invalid" => new StatusFailure(StatusFailureKind.SendingBlocked, "access_token_invalid"),
        _ => new StatusFailure(StatusFailureKind.Other, code is null ? "no_error_code" : "other"),
    };

    /// <summary>
    /// After attempt number <paramref name="attempts"/> (1-based, already counted) started at
    /// <paramref name="attemptStartedAt"/> failed with <paramref name="failure"/> at <paramref name="now"/>.
    /// <paramref name="jitter"/> in [0, 1) spreads the tickets of one outage over ±20 % of their delay.
    /// </summary>
    public static RetryDecision Decide(DeliveryFailure failure, int attempts, DateTime attemptStartedAt, DateTime now, TicketOptions options, double jitter)
    {
        if (failure.Class == DeliveryFailureClass.Permanent)
        {
            return new RetryDecision.GiveUp($"{failure.Category}: {failure.Reason}");
        }

        if (IsPacing(failure))
        {
            // Nothing went out and the ticket is not at fault: no attempt spent, no failure backoff.
            // The wait is the limit's own; WhatsAppSendPace spreads the returning tickets over the number's rate.
            var wait = failure.Code is null ? TimeSpan.Zero : RateLimitFloor(failure.Code);
            if (failure.RetryAfter is { } limitAsked && limitAsked > wait)
            {
                wait = limitAsked;
            }

            return new RetryDecision.RetryAt(now + (wait > LongestDelay ? LongestDelay : wait), InDoubt: false, SpendsAttempt: false);
        }

        if (attempts >= options.MaxAttempts)
        {
            var doubt = failure.Class == DeliveryFailureClass.OutcomeUnknown ? " (its outcome is unknown: the member may have the ticket)" : "";
            return new RetryDecision.GiveUp($"gave up after {attempts} attempts; last error{doubt}: {failure.Category}: {failure.Reason}");
        }

        var delay = Backoff(attempts, options, jitter);
        if (failure.RetryAfter is { } asked && asked > delay)
        {
            delay = asked;
        }

        if (failure.Class == DeliveryFailureClass.RateLimited && RateLimitFloor(failure.Code) is var floor && floor > delay)
        {
            delay = floor;
        }

        var at = now + (delay > LongestDelay ? LongestDelay : delay);
        if (failure.Class == DeliveryFailureClass.OutcomeUnknown)
        {
            // Not before an attempt that may still be in flight has certainly ended.
            var resendable = ResendableAt(attemptStartedAt, options);
            return new RetryDecision.RetryAt(resendable > at ? resendable : at, InDoubt: true);
        }

        return new RetryDecision.RetryAt(at, InDoubt: false);
    }

    /// <summary>Exponential from Tickets:RetryBaseSeconds, doubling per attempt, capped at Tickets:RetryMaxDelaySeconds, ±20 %.</summary>
    public static TimeSpan Backoff(int attempts, TicketOptions options, double jitter)
    {
        var seconds = Math.Min(options.RetryBaseSeconds * Math.Pow(2, Math.Max(0, attempts - 1)), options.RetryMaxDelaySeconds);
        return TimeSpan.FromSeconds(seconds * (0.8 + 0.4 * Math.Clamp(jitter, 0, 1)));
    }

    /// <summary>
    /// The least pause a rate-limit code asks for when no Retry-After came: the pair rate (131056)
    /// is one message per 6 s to one recipient; throughput (130429) is counted per second, and the
    /// shared pace holds the whole number back after one, so a few seconds are enough; application
    /// and account limits (4, 80007) are counted over an hour. This app's own pacing ("paced", no
    /// code) always says how long itself.
    /// </summary>
    public static TimeSpan RateLimitFloor(int? code) => code switch
    {
        131056 => TimeSpan.FromSeconds(6),
        130429 => TimeSpan.FromSeconds(5),
        4 or 80007 => TimeSpan.FromMinutes(5),
        _ => TimeSpan.FromSeconds(30),
    };

    /// <summary>
    /// WhatsApp's throughput (130429) and pair-rate (131056) limits, and this app's own pacing
    /// (<see cref="WhatsAppSendPace"/>), refuse a message for now only: the ticket is fine and
    /// nothing was sent. The application and account limits (4, 80007) stay failures that spend
    /// attempts: they last an hour and may mean something is wrong.
    /// </summary>
    public static bool IsPacing(DeliveryFailure failure) =>
        failure.Class == DeliveryFailureClass.RateLimited && (failure.Category == "paced" || failure.Code is 130429 or 131056);

    /// <summary>A send in doubt (a <c>sending</c> row) may be repeated from then on: a worker that outlived its lease has certainly ended its call.</summary>
    public static DateTime ResendableAt(DateTime attemptStartedAt, TicketOptions options) =>
        attemptStartedAt.AddSeconds(options.ResendUnfinishedAfterSeconds);

    /// <summary>A message for a delivery whose next attempt is scheduled later is a copy: the scheduled message is on its way.</summary>
    public static bool IsDue(DateTime? nextAttemptAt, DateTime now) =>
        nextAttemptAt is not { } at || now >= at - EarlyTolerance;
}
