using System.Security.Cryptography;
using System.Text;
using Dapper;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.WhatsApp;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Tickets;

/// <summary>
/// A send slot: granted (at <see cref="At"/> on the database's clock, this long from when the
/// database granted it) or not (come back after this long; nothing was reserved).
/// </summary>
public sealed record SendTurn(bool Granted, TimeSpan Wait, DateTime? At = null);

/// <summary>
/// WhatsApp's pace for one business number, shared by every instance: at most
/// <c>WhatsApp__MessagesPerSecond</c> messages a second (130429 beyond it) and one message about
/// every 6 s to the same recipient (131056). Each send takes the number's next free slot from one
/// PostgreSQL row (slot n+1 = slot n + 1/rate, a virtual schedule), then waits for it. A slot further
/// away than <see cref="LongestWait"/>, or a recipient not yet writable again, is not taken: the
/// delivery is rescheduled as rate limited, which spends no attempt (<see cref="DeliveryRetryPolicy"/>).
/// WhatsApp's own rate-limit answers move the schedule too, so every instance slows down together.
/// <para>
/// The number's schedule runs on the database's clock (<c>clock_timestamp()</c>, read once the
/// row is locked), and the instance is told only how long to wait: a slot is never granted earlier
/// than the moment it is granted, however long the sender queued for the row, and no instance's
/// clock skew moves its sends against the others'. Slots taken from an instance's clock read before
/// the statement let every sender that queued on the row's lock go out together when it was
/// released (WhatsAppSendPaceTests, docs/tickets.md). The recipient's 6 s stays on the instance's
/// clock (TimeProvider): a skew of milliseconds is nothing against it, and tests move it.
/// </para>
/// </summary>
public sealed class WhatsAppSendPace(Database database, IOptions<WhatsAppOptions> options, TimeProvider clock, ILogger<WhatsAppSendPace> logger)
{
    /// <summary>WhatsApp's pair rate: about one message every 6 s to the same recipient.</summary>
    public static readonly TimeSpan PairSpacing = TimeSpan.FromSeconds(6);

    /// <summary>
    /// Slots are spaced for 90 % of the configured rate: between taking a slot and WhatsApp counting
    /// the request lie a few milliseconds to a hundred (the lease check, the network, a busy
    /// instance), and a send that lands late beside one that lands early makes rate + 1 in one
    /// second. Measured: paced at exactly the rate, ~10 % of sends met 130429 from a fake that
    /// counts over any second (docs/benchmarks.md). 10,000 tickets at 80/s then take 139 s. At this
    /// spacing (72/s) the fake still saw 76-78 accepted within one second on a loaded machine, so 95 %
    /// (76/s) would leave no margin (docs/benchmarks-notes.md, "The pace's 90 % spacing").
    /// </summary>
    public const double Headroom = 0.9;

    /// <summary>How long the number takes to send this many messages at the pace slots are spaced for.</summary>
    public TimeSpan TimeToSend(long messages) => TimeSpan.FromSeconds(messages / (options.Value.MessagesPerSecond * Headroom));

    /// <summary>A queue invocation waits at most this long for its slot; beyond it the ticket comes back later instead of holding a worker.</summary>
    public static readonly TimeSpan LongestWait = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a 130429 stops the whole number: WhatsApp counts per second. A Retry-After applies
    /// to that ticket's own retry (DeliveryRetryPolicy), not to every ticket of the number.
    /// </summary>
    public static readonly TimeSpan ThroughputPause = TimeSpan.FromSeconds(1);

    /// <summary>
    /// One statement: no slot while the recipient must wait; otherwise the number's next slot, if it
    /// is near enough, and the recipient's next allowed time from that slot (converted to the
    /// instance's clock). The slot and the wait are the database's: <c>clock_timestamp()</c> in the
    /// update is read after the row lock is held. A slot lost in a crash costs a gap of 1/rate, so
    /// the commit does not wait for the WAL flush.
    /// </summary>
    private const string Take = """
        set local synchronous_commit = off;
        with recipient as (
            select next_at from whatsapp_recipient_pace where phone_number_id = @Number and recipient_hash = @Recipient
        ), slot as (
            insert into whatsapp_send_pace as p (phone_number_id, next_slot_at)
            select @Number, clock_timestamp() + @Spacing
             where not exists (select 1 from recipient where next_at > @Now)
            on conflict (phone_number_id) do update
               set next_slot_at = greatest(p.next_slot_at, clock_timestamp()) + @Spacing
             where greatest(p.next_slot_at, clock_timestamp()) <= clock_timestamp() + @LongestWait
            returning p.next_slot_at - @Spacing as at, greatest(p.next_slot_at - @Spacing - clock_timestamp(), interval '0') as wait
        ), paired as (
            insert into whatsapp_recipient_pace (phone_number_id, recipient_hash, next_at)
            select @Number, @Recipient, @Now + wait + @PairSpacing from slot
            on conflict (phone_number_id, recipient_hash) do update set next_at = excluded.next_at
        )
        select (select extract(epoch from at - clock_timestamp())::float8 from slot) as "Granted",
               (select extract(epoch from next_at - @Now)::float8 from recipient) as "Recipient",
               (select extract(epoch from next_slot_at - clock_timestamp())::float8 from whatsapp_send_pace where phone_number_id = @Number) as "Number",
               (select at from slot) as "At"
        """;

    private const string PauseNumber = """
        insert into whatsapp_send_pace as p (phone_number_id, next_slot_at) values (@Number, clock_timestamp() + @Pause)
        on conflict (phone_number_id) do update set next_slot_at = greatest(p.next_slot_at, clock_timestamp() + @Pause)
        """;

    private const string PauseRecipient = """
        insert into whatsapp_recipient_pace as r (phone_number_id, recipient_hash, next_at) values (@Number, @Recipient, @Now + @Pause)
        on conflict (phone_number_id, recipient_hash) do update set next_at = greatest(r.next_at, @Now + @Pause)
        """;

    /// <summary>
    /// A recipient's row matters only until its next allowed time; one a pair spacing past it (a
    /// margin for the instances' clocks) is dropped, oldest first, so the table holds the recipients
    /// of the last seconds rather than a hash of every number ever written to.
    /// </summary>
    private const string PurgeRecipients = """
        delete from whatsapp_recipient_pace
         where (phone_number_id, recipient_hash) in (select phone_number_id, recipient_hash from whatsapp_recipient_pace
                                                      where next_at < @Before
                                                      order by next_at
                                                      limit @Limit)
        """;

    /// <summary>Waits for this message's slot, or throws a rate-limited <see cref="WhatsAppException"/> naming when to come back.</summary>
    public async Task WaitForTurnAsync(string recipientE164, CancellationToken cancellationToken)
    {
        var turn = await TakeAsync(recipientE164, cancellationToken);
        if (!turn.Granted)
        {
            throw new WhatsAppException(WhatsAppCall.Messages, null, new DeliveryFailure(DeliveryFailureClass.RateLimited, "paced",
                $"held back to stay within {options.Value.MessagesPerSecond} messages/s and the pair rate; next turn in {turn.Wait.TotalSeconds:F1} s",
                RetryAfter: turn.Wait));
        }

        if (turn.Wait > TimeSpan.Zero)
        {
            await Task.Delay(turn.Wait, clock, cancellationToken);
        }
    }

    /// <summary>Takes a slot without waiting for it.</summary>
    public async Task<SendTurn> TakeAsync(string recipientE164, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var (granted, recipient, number, at) = await database.RunAsync("whatsapp_pace", connection =>
            connection.QuerySingleAsync<(double? Granted, double? Recipient, double? Number, DateTime? At)>(Take, new
            {
                Number = settings.PhoneNumberId,
                Recipient = RecipientHash(recipientE164),
                Now = clock.GetUtcNow().UtcDateTime,
                Spacing = TimeSpan.FromSeconds(1.0 / (settings.MessagesPerSecond * Headroom)),
                LongestWait,
                PairSpacing,
            }), cancellationToken);
        if (granted is { } wait)
        {
            return new SendTurn(true, Seconds(wait), at);
        }

        // Refused: come back when the recipient may be written to and the number's schedule is within
        // reach again, and never sooner than the longest wait (a retry is a delayed queue message: a
        // storm of sub-second ones would cost more than it saves).
        var later = Math.Max(recipient ?? 0, (number ?? 0) - LongestWait.TotalSeconds);
        return new SendTurn(false, Seconds(Math.Max(later, LongestWait.TotalSeconds)));
    }

    /// <summary>
    /// WhatsApp said a limit was hit: 130429 stops the whole number for a second (every instance
    /// takes its slots after the pause), 131056 the recipient for the pair spacing. Never throws:
    /// the delivery's own retry is scheduled either way.
    /// </summary>
    public async Task OnRefusedAsync(DeliveryFailure failure, string recipientE164)
    {
        var (sql, pause) = failure.Code switch
        {
            130429 => (PauseNumber, ThroughputPause),
            131056 => (PauseRecipient, PairSpacing),
            _ => (null, TimeSpan.Zero),
        };
        if (sql is null)
        {
            return;
        }

        try
        {
            await database.RunAsync("whatsapp_pace_refused", connection => connection.ExecuteAsync(sql, new
            {
                Number = options.Value.PhoneNumberId,
                Recipient = RecipientHash(recipientE164),
                Now = clock.GetUtcNow().UtcDateTime,
                Pause = pause,
            }), CancellationToken.None);
        }
        catch (DependencyUnavailableException e)
        {
            logger.LogWarning(e, "WhatsApp answered {Code}; the send pace could not be slowed down", failure.Code);
        }
    }

    /// <summary>Drops at most <paramref name="limit"/> recipient rows that stopped mattering a pair spacing ago; returns how many.</summary>
    public Task<int> PurgeRecipientsAsync(int limit, CancellationToken cancellationToken) =>
        database.RunAsync("whatsapp_pace_purge", connection => connection.ExecuteAsync(PurgeRecipients, new
        {
            Before = clock.GetUtcNow().UtcDateTime - PairSpacing,
            Limit = limit,
        }), cancellationToken);

    private static byte[] RecipientHash(string recipientE164) => SHA256.HashData(Encoding.UTF8.GetBytes(recipientE164));

    private static TimeSpan Seconds(double seconds) => seconds > 0 ? TimeSpan.FromSeconds(seconds) : TimeSpan.Zero;
}
