using EventRegistration.Functions.Tickets;

namespace EventRegistration.Tests.Tickets;

/// <summary>The delivery retry policy as tables: no database, no queue, no HTTP.</summary>
public sealed class DeliveryRetryPolicyTests
{
    private static readonly DateTime Now = new(2026, 11, 25, 12, 0, 0, DateTimeKind.Utc);
    private static readonly TicketOptions Defaults = new();

    [Theory]
    // No answer at all.
    [InlineData(WhatsAppCall.Messages, null, null, false, DeliveryFailureClass.Transient, "unreachable")]
    [InlineData(WhatsAppCall.Media, null, null, false, DeliveryFailureClass.Transient, "unreachable")]
    [InlineData(WhatsAppCall.Messages, null, null, true, DeliveryFailureClass.OutcomeUnknown, "no_answer")]
    [InlineData(WhatsAppCall.Media, null, null, true, DeliveryFailureClass.Transient, "no_answer")]
    // A success that cannot be read.
    [InlineData(WhatsAppCall.Messages, 200, null, true, DeliveryFailureClass.OutcomeUnknown, "unreadable_answer")]
    [InlineData(WhatsAppCall.Media, 200, null, true, DeliveryFailureClass.Transient, "unreadable_answer")]
    // Gateway errors: the send may have been accepted before them; the upload reaches no member.
    [InlineData(WhatsAppCall.Messages, 500, 131000, true, DeliveryFailureClass.OutcomeUnknown, "outcome_unknown")]
    [InlineData(WhatsAppCall.Messages, 502, null, true, DeliveryFailureClass.OutcomeUnknown, "outcome_unknown")]
    [InlineData(WhatsAppCall.Messages, 503, 2, true, DeliveryFailureClass.OutcomeUnknown, "outcome_unknown")]
    [InlineData(WhatsAppCall.Messages, 408, null, true, DeliveryFailureClass.OutcomeUnknown, "outcome_unknown")]
    [InlineData(WhatsAppCall.Media, 502, null, true, DeliveryFailureClass.Transient, "server_error")]
    [InlineData(WhatsAppCall.Media, 408, null, true, DeliveryFailureClass.Transient, "server_error")]
    // Rate limits: refused, so nothing went out, whatever the status.
    [InlineData(WhatsAppCall.Messages, 429, null, true, DeliveryFailureClass.RateLimited, "rate_limited")]
    [InlineData(WhatsAppCall.Messages, 429, 130429, true, DeliveryFailureClass.RateLimited, "rate_limited")]
    [InlineData(WhatsAppCall.Messages, 400, 131056, true, DeliveryFailureClass.RateLimited, "rate_limited")]
    [InlineData(WhatsAppCall.Messages, 400, 80007, true, DeliveryFailureClass.RateLimited, "rate_limited")]
    [InlineData(WhatsAppCall.Messages, 403, 4, true, DeliveryFailureClass.RateLimited, "rate_limited")]
    [InlineData(WhatsAppCall.Messages, 503, 130429, true, DeliveryFailureClass.RateLimited, "rate_limited")]
    [InlineData(WhatsAppCall.Media, 429, 4, true, DeliveryFailureClass.RateLimited, "rate_limited")]
    // Permanent: an operator must act.
    [InlineData(WhatsAppCall.Messages, 400, 131026, true, DeliveryFailureClass.Permanent, "invalid_recipient")]
    [InlineData(WhatsAppCall.Messages, 400, 100, true, DeliveryFailureClass.Permanent, "invalid_recipient")]
    [InlineData(WhatsAppCall.Messages, 400, 132000, true, DeliveryFailureClass.Permanent, "template_problem")]
    [InlineData(WhatsAppCall.Messages, 400, 132001, true, DeliveryFailureClass.Permanent, "template_problem")]
    [InlineData(WhatsAppCall.Messages, 400, 132012, true, DeliveryFailureClass.Permanent, "template_problem")]
    [InlineData(WhatsAppCall.Messages, 400, 132015, true, DeliveryFailureClass.Permanent, "template_paused")]
    [InlineData(WhatsAppCall.Messages, 401, 190, true, DeliveryFailureClass.Permanent, "access_token_invalid")]
    [InlineData(WhatsAppCall.Media, 401, 190, true, DeliveryFailureClass.Permanent, "access_token_invalid")]
    [InlineData(WhatsAppCall.Messages, 403, null, true, DeliveryFailureClass.Permanent, "access_denied")]
    [InlineData(WhatsAppCall.Messages, 400, null, true, DeliveryFailureClass.Permanent, "rejected")]
    [InlineData(WhatsAppCall.Media, 413, null, true, DeliveryFailureClass.Permanent, "rejected")]
    public void Classify_follows_the_table(WhatsAppCall call, int? status, int? code, bool requestLeft, DeliveryFailureClass expected, string category)
    {
        Assert.Equal((expected, category), DeliveryRetryPolicy.Classify(call, status, code, requestLeft));
    }

    [Theory]
    // attempts, jitter → seconds until the next attempt: 30 s doubling, capped at 30 min, ±20 %.
    [InlineData(1, 0.5, 30)]
    [InlineData(2, 0.5, 60)]
    [InlineData(3, 0.5, 120)]
    [InlineData(6, 0.5, 960)]
    [InlineData(7, 0.5, 1800)]
    [InlineData(11, 0.5, 1800)]
    [InlineData(1, 0.0, 24)]
    [InlineData(1, 0.999999, 36)]
    [InlineData(11, 0.0, 1440)]
    public void A_transient_failure_is_retried_after_an_exponential_backoff(int attempts, double jitter, double seconds)
    {
        var decision = Decide(DeliveryFailureClass.Transient, attempts, jitter: jitter);
        var retry = Assert.IsType<RetryDecision.RetryAt>(decision);
        Assert.False(retry.InDoubt);
        Assert.Equal(seconds, (retry.At - Now).TotalSeconds, 0.001);
    }

    [Theory]
    // Retry-After (s), code → at least that long, and at least the code's own floor. Throughput and
    // pair-rate limits wait for the limit alone (no failure backoff: they are not the ticket's failures).
    [InlineData(120, 130429, 120)]
    [InlineData(7, 130429, 7)]
    [InlineData(null, 130429, 5)]
    [InlineData(null, 131056, 6)]
    [InlineData(null, 4, 300)]
    [InlineData(null, 80007, 300)]
    [InlineData(3600, 4, 3600)]
    [InlineData(200000, 130429, 86400)]
    public void A_rate_limit_waits_for_Retry_After_and_the_codes_floor(int? retryAfterSeconds, int code, double seconds)
    {
        var failure = new DeliveryFailure(DeliveryFailureClass.RateLimited, "rate_limited", "test", code,
            retryAfterSeconds is { } s ? TimeSpan.FromSeconds(s) : null);
        var retry = Assert.IsType<RetryDecision.RetryAt>(DeliveryRetryPolicy.Decide(failure, 1, Now, Now, Defaults, 0.5));
        Assert.Equal(seconds, (retry.At - Now).TotalSeconds, 0.001);
    }

    [Theory]
    [InlineData(130429, "rate_limited")]
    [InlineData(131056, "rate_limited")]
    [InlineData(null, "paced")]
    public void A_throughput_or_pair_rate_limit_spends_no_attempt_even_on_the_last_one(int? code, string category)
    {
        var failure = new DeliveryFailure(DeliveryFailureClass.RateLimited, category, "test", code, TimeSpan.FromSeconds(2));
        var retry = Assert.IsType<RetryDecision.RetryAt>(DeliveryRetryPolicy.Decide(failure, Defaults.MaxAttempts, Now, Now, Defaults, 0.5));
        Assert.False(retry.SpendsAttempt);
        Assert.False(retry.InDoubt);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(80007)]
    public void The_hourly_application_and_account_limits_still_spend_attempts(int code)
    {
        var failure = new DeliveryFailure(DeliveryFailureClass.RateLimited, "rate_limited", "test", code);
        Assert.True(Assert.IsType<RetryDecision.RetryAt>(DeliveryRetryPolicy.Decide(failure, 1, Now, Now, Defaults, 0.5)).SpendsAttempt);
        Assert.IsType<RetryDecision.GiveUp>(DeliveryRetryPolicy.Decide(failure, Defaults.MaxAttempts, Now, Now, Defaults, 0.5));
    }

    [Fact]
    public void Retry_After_also_lengthens_a_transient_pause()
    {
        var failure = new DeliveryFailure(DeliveryFailureClass.Transient, "server_error", "test", RetryAfter: TimeSpan.FromMinutes(10));
        var retry = Assert.IsType<RetryDecision.RetryAt>(DeliveryRetryPolicy.Decide(failure, 1, Now, Now, Defaults, 0.5));
        Assert.Equal(Now.AddMinutes(10), retry.At);
    }

    [Theory]
    // A send in doubt is resent no earlier than the threshold after it started, nor than the backoff.
    [InlineData(1, 0, 60)]
    [InlineData(1, 50, 60)]
    [InlineData(3, 0, 120)]
    [InlineData(6, 0, 960)]
    public void An_unknown_outcome_stays_in_doubt_until_the_resend_threshold(int attempts, int secondsSinceStart, double secondsFromStart)
    {
        var started = Now.AddSeconds(-secondsSinceStart);
        var failure = new DeliveryFailure(DeliveryFailureClass.OutcomeUnknown, "outcome_unknown", "test");
        var retry = Assert.IsType<RetryDecision.RetryAt>(DeliveryRetryPolicy.Decide(failure, attempts, started, Now, Defaults, 0.5));
        Assert.True(retry.InDoubt);
        Assert.Equal(Math.Max(secondsFromStart, secondsSinceStart + Defaults.RetryBaseSeconds * Math.Pow(2, attempts - 1)), (retry.At - started).TotalSeconds, 0.001);
    }

    [Theory]
    [InlineData(DeliveryFailureClass.Permanent, 1, "invalid_recipient: test")]
    [InlineData(DeliveryFailureClass.Transient, 12, "gave up after 12 attempts; last error: invalid_recipient: test")]
    [InlineData(DeliveryFailureClass.RateLimited, 12, "gave up after 12 attempts; last error: invalid_recipient: test")]
    [InlineData(DeliveryFailureClass.OutcomeUnknown, 12, "gave up after 12 attempts; last error (its outcome is unknown: the member may have the ticket): invalid_recipient: test")]
    public void Permanent_failures_and_the_last_attempt_give_up(DeliveryFailureClass kind, int attempts, string reason)
    {
        var decision = DeliveryRetryPolicy.Decide(new DeliveryFailure(kind, "invalid_recipient", "test"), attempts, Now, Now, Defaults, 0.5);
        Assert.Equal(reason, Assert.IsType<RetryDecision.GiveUp>(decision).Reason);
    }

    [Fact]
    public void The_default_schedule_keeps_a_ticket_alive_for_hours_of_outage()
    {
        var elapsed = TimeSpan.Zero;
        for (var attempts = 1; attempts < Defaults.MaxAttempts; attempts++)
        {
            elapsed += Assert.IsType<RetryDecision.RetryAt>(Decide(DeliveryFailureClass.Transient, attempts, jitter: 0)).At - Now;
        }

        // With the shortest jitter everywhere, the last attempt still comes more than two hours after the first.
        Assert.True(elapsed > TimeSpan.FromHours(2), elapsed.ToString());
        Assert.IsType<RetryDecision.GiveUp>(Decide(DeliveryFailureClass.Transient, Defaults.MaxAttempts, jitter: 0));
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData(-1, true)]
    [InlineData(0, true)]
    [InlineData(4, true)]
    [InlineData(6, false)]
    [InlineData(600, false)]
    public void A_message_is_due_unless_the_next_attempt_is_scheduled_later(int? scheduledInSeconds, bool due)
    {
        DateTime? next = scheduledInSeconds is { } s ? Now.AddSeconds(s) : null;
        Assert.Equal(due, DeliveryRetryPolicy.IsDue(next, Now));
    }

    [Theory]
    [InlineData(131026, StatusFailureKind.Undeliverable, "invalid_recipient")]
    [InlineData(100, StatusFailureKind.Undeliverable, "invalid_recipient")]
    [InlineData(131047, StatusFailureKind.NotNow, "reengagement_required")]
    [InlineData(131049, StatusFailureKind.NotNow, "reengagement_required")]
    [InlineData(131056, StatusFailureKind.NotNow, "rate_limited")]
    [InlineData(130429, StatusFailureKind.NotNow, "rate_limited")]
    [InlineData(132015, StatusFailureKind.SendingBlocked, "template_paused")]
    [InlineData(132016, StatusFailureKind.SendingBlocked, "template_paused")]
    [InlineData(132001, StatusFailureKind.SendingBlocked, "template_problem")]
    [InlineData(190, StatusFailureKind.SendingBlocked, "access_token_invalid")]
    [InlineData(131000, StatusFailureKind.Other, "other")]
    [InlineData(null, StatusFailureKind.Other, "no_error_code")]
    public void A_failed_delivery_status_is_classified_from_the_same_catalogue_as_a_refused_send(int? code, StatusFailureKind kind, string category)
    {
        Assert.Equal(new StatusFailure(kind, category), DeliveryRetryPolicy.ClassifyStatusFailure(code));
        if (code is not null and not 131000)
        {
            // The send side names the same category for the same code.
            Assert.Equal(category, DeliveryRetryPolicy.Classify(WhatsAppCall.Messages, 400, code, true).Category);
        }
    }

    private static RetryDecision Decide(DeliveryFailureClass kind, int attempts, double jitter) =>
        DeliveryRetryPolicy.Decide(new DeliveryFailure(kind, "test", "test"), attempts, Now, Now, Defaults, jitter);
}
