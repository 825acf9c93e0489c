using System.Collections.Concurrent;
using System.Security.Cryptography;
using Dapper;
using EventRegistration.Functions.Infrastructure.WhatsApp;
using EventRegistration.Functions.Reconciliation;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace EventRegistration.Tests.Tickets;

/// <summary>
/// The shared WhatsApp send pace: several instances (separate hosts on one database) together
/// stay within the number's rate, a recipient is not written to again within the pair spacing,
/// and WhatsApp's own rate-limit answers hold sending back without spending the ticket's attempts.
/// </summary>
public sealed class WhatsAppSendPaceTests(TestApp app) : IClassFixture<TestApp>, IDisposable
{
    public void Dispose()
    {
        app.WhatsApp.ClearFailures();
        app.WhatsApp.MessagesPerSecondLimit = null;
    }

    [Fact]
    public async Task Senders_held_up_on_the_number_schedule_go_out_spaced_and_meet_no_130429()
    {
        // The fake counts what reaches it over any second, as WhatsApp does; the senders are the
        // ticket handler's last two steps (wait for the slot, send) through the real client.
        const int rate = 10;
        using var host = await InstanceAsync(rate, FakeWhatsApp.PhoneNumberId);
        var pace = host.Services.GetRequiredService<WhatsAppSendPace>();
        var whatsApp = host.Services.GetRequiredService<WhatsAppClient>();
        await app.ExecuteAsync("""
            insert into whatsapp_send_pace (phone_number_id, next_slot_at) values (@Number, now() - interval '1 hour')
            on conflict (phone_number_id) do update set next_slot_at = excluded.next_slot_at
            """, new { Number = FakeWhatsApp.PhoneNumberId });
        app.WhatsApp.MessagesPerSecondLimit = rate;
        var refusedBefore = app.WhatsApp.ThroughputRefusals;
        var refused = 0;

        Task Send() => Task.Run(async () =>
        {
            var phone = "+9192" + RandomNumberGenerator.GetInt32(10_000_000, 99_999_999);
            await pace.WaitForTurnAsync(phone, CancellationToken.None);
            try
            {
                await whatsApp.SendTemplateAsync(phone, "media-1", ["Member", "Pace night", "1 Dec", "Hall"], CancellationToken.None);
            }
            catch (WhatsAppException e) when (e.Failure.Code == 130429)
            {
                Interlocked.Increment(ref refused);
            }
        });

        // The schedule row is held for half a second (in production: the queue of senders on its
        // lock, a slow round trip, a paused instance). Four senders start before the stall ends and
        // ten more just before it ends; all of them get their slot when it ends.
        var senders = new List<Task>();
        await using (var stall = new NpgsqlConnection(app.ConnectionString))
        {
            await stall.OpenAsync();
            await using var transaction = await stall.BeginTransactionAsync();
            await stall.ExecuteAsync("select 1 from whatsapp_send_pace where phone_number_id = @Number for update", new { Number = FakeWhatsApp.PhoneNumberId }, transaction);
            senders.AddRange(Enumerable.Range(0, 4).Select(_ => Send()));
            await Task.Delay(400);
            senders.AddRange(Enumerable.Range(0, 10).Select(_ => Send()));
            await Task.Delay(150);
            await transaction.CommitAsync();
        }

        await Task.WhenAll(senders);

        Assert.Equal(14, app.WhatsApp.Sent.Count(s => s.Body["to"]!.GetValue<string>().StartsWith("+9192", StringComparison.Ordinal)) + refused);
        Assert.Equal(0, refused);
        Assert.Equal(refusedBefore, app.WhatsApp.ThroughputRefusals);
    }

    [Fact]
    public async Task Two_instances_sharing_one_number_never_take_more_than_its_rate_in_any_second()
    {
        const int rate = 25;
        const int perInstance = 60;
        var number = NewNumber();
        using var first = await InstanceAsync(rate, number);
        using var second = await InstanceAsync(rate, number);
        var slots = new ConcurrentBag<(int Instance, DateTime At)>();

        await Task.WhenAll(new[] { first, second }.SelectMany((host, instance) => Enumerable.Range(0, perInstance).Select(_ => Task.Run(async () =>
        {
            var pace = host.Services.GetRequiredService<WhatsAppSendPace>();
            var phone = "+9197" + RandomNumberGenerator.GetInt32(10_000_000, 99_999_999);
            while (true)
            {
                var turn = await pace.TakeAsync(phone, CancellationToken.None);
                if (turn.Granted)
                {
                    slots.Add((instance, turn.At!.Value));
                    return;
                }

                // Too far ahead to wait for now: come back when told, as a rescheduled ticket does.
                Assert.True(turn.Wait > TimeSpan.Zero);
                await Task.Delay(turn.Wait);
            }
        }))));

        Assert.Equal(2 * perInstance, slots.Count);
        Assert.Contains(slots, s => s.Instance == 0);
        Assert.Contains(slots, s => s.Instance == 1);
        var times = slots.Select(s => s.At).Order().ToArray();
        for (var i = 0; i + 1 < times.Length; i++)
        {
            Assert.True(times[i + 1] - times[i] >= TimeSpan.FromSeconds(1.0 / rate) - TimeSpan.FromTicks(10), $"slots {i} and {i + 1}: {times[i]:O} {times[i + 1]:O}");
        }

        // Any window of one second holds at most `rate` slots.
        for (var i = 0; i + rate < times.Length; i++)
        {
            Assert.True(times[i + rate] - times[i] >= TimeSpan.FromSeconds(1) - TimeSpan.FromTicks(10), $"{rate + 1} slots within {times[i + rate] - times[i]}");
        }
    }

    [Fact]
    public async Task A_recipient_is_not_given_a_second_slot_within_the_pair_spacing()
    {
        var pace = app.Services.GetRequiredService<WhatsAppSendPace>();
        var phone = "+9196" + RandomNumberGenerator.GetInt32(10_000_000, 99_999_999);

        var firstTurn = await pace.TakeAsync(phone, CancellationToken.None);
        var again = await pace.TakeAsync(phone, CancellationToken.None);
        var someoneElse = await pace.TakeAsync("+9195" + RandomNumberGenerator.GetInt32(10_000_000, 99_999_999), CancellationToken.None);

        Assert.True(firstTurn.Granted);
        Assert.False(again.Granted);
        Assert.InRange(again.Wait, WhatsAppSendPace.PairSpacing - TimeSpan.FromSeconds(2), WhatsAppSendPace.PairSpacing);
        Assert.True(someoneElse.Granted);

        app.Clock.Advance(WhatsAppSendPace.PairSpacing);
        Assert.True((await pace.TakeAsync(phone, CancellationToken.None)).Granted);
    }

    [Fact]
    public async Task A_slot_further_away_than_the_longest_wait_is_not_taken()
    {
        using var host = await InstanceAsync(messagesPerSecond: 1, NewNumber());
        var pace = host.Services.GetRequiredService<WhatsAppSendPace>();
        var turns = new List<SendTurn>();
        for (var i = 0; i < 8; i++)
        {
            turns.Add(await pace.TakeAsync("+9194" + RandomNumberGenerator.GetInt32(10_000_000, 99_999_999), CancellationToken.None));
        }

        // One a second, spaced with the headroom (1.11 s): the first five slots are at most 5 s away;
        // later ones are refused, not queued far ahead.
        Assert.All(turns.Take(5), t => Assert.True(t.Granted));
        Assert.All(turns.Take(5), t => Assert.True(t.Wait <= WhatsAppSendPace.LongestWait));
        Assert.All(turns.Skip(5), t => Assert.False(t.Granted));
        Assert.All(turns.Skip(5), t => Assert.InRange(t.Wait, WhatsAppSendPace.LongestWait, WhatsAppSendPace.LongestWait + TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task A_second_ticket_to_the_same_member_waits_for_the_pair_spacing_without_spending_an_attempt()
    {
        var first = await app.PaidTicketAsync();
        var second = await app.PaidTicketAsync();
        await app.ExecuteAsync("update members set phone_e164 = @phone where id = (select member_id from event_registrations where id = @id)",
            new { phone = first.Phone, id = second.RegistrationId });

        await app.DeliverAsync(first.QueueMessage);
        await app.DeliverAsync(second.QueueMessage);

        Assert.Single(app.WhatsApp.SendAttemptsTo(first.Phone));
        var held = await app.DeliveryAsync(second.RegistrationId);
        Assert.Equal("queued", held.Status);
        Assert.Equal(0, held.Attempts);
        Assert.Contains("paced", held.LastError);
        Assert.NotNull(held.NextAttemptAt);

        await app.AdvanceToNextAttemptAsync(second.RegistrationId);
        await app.DeliverAsync(second.QueueMessage);

        Assert.Equal(2, app.WhatsApp.SentTo(first.Phone).Count);
        var sent = await app.DeliveryAsync(second.RegistrationId);
        Assert.Equal("sent", sent.Status);
        Assert.Equal(1, sent.Attempts);
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task WhatsApps_throughput_limit_holds_the_whole_number_back_and_spends_no_attempt()
    {
        var limited = await app.PaidTicketAsync();
        app.WhatsApp.FailNextSends(400, 130429, retryAfter: "30");
        var beforeRefusal = (await app.QueryAsync<DateTime>("select clock_timestamp()")).Single();

        await app.DeliverAsync(limited.QueueMessage);

        var delivery = await app.DeliveryAsync(limited.RegistrationId);
        Assert.Equal("queued", delivery.Status);
        Assert.Equal(0, delivery.Attempts);
        Assert.Contains("130429", delivery.LastError);

        // Every sender of the number waits out the pause: anyone else's next slot is a second after the refusal at least (the schedule's clock is the database's).
        var pace = app.Services.GetRequiredService<WhatsAppSendPace>();
        var other = await pace.TakeAsync("+9193" + RandomNumberGenerator.GetInt32(10_000_000, 99_999_999), CancellationToken.None);
        Assert.True(other.Granted);
        Assert.True(other.At >= beforeRefusal + WhatsAppSendPace.ThroughputPause, $"{other.At:O} after a refusal later than {beforeRefusal:O}");

        await app.AdvanceToNextAttemptAsync(limited.RegistrationId);
        await app.DeliverAsync(limited.QueueMessage);
        var sent = await app.DeliveryAsync(limited.RegistrationId);
        Assert.Equal("sent", sent.Status);
        Assert.Equal(1, sent.Attempts);
        Assert.Single(app.WhatsApp.SentTo(limited.Phone));
        await app.AssertAllAsync();
    }

    [Fact]
    public async Task The_reconciliation_drops_recipient_rows_once_their_pair_spacing_is_long_past_and_keeps_the_rest()
    {
        var pace = app.Services.GetRequiredService<WhatsAppSendPace>();
        var earlier = "+9191" + RandomNumberGenerator.GetInt32(10_000_000, 99_999_999);
        Assert.True((await pace.TakeAsync(earlier, CancellationToken.None)).Granted);
        app.Clock.Advance(WhatsAppSendPace.PairSpacing * 2 + TimeSpan.FromSeconds(1));
        var recent = "+9190" + RandomNumberGenerator.GetInt32(10_000_000, 99_999_999);
        Assert.True((await pace.TakeAsync(recent, CancellationToken.None)).Granted);
        Assert.Equal(2L, await RecipientRowsAsync(earlier, recent));

        var run = await app.Services.GetRequiredService<ReconciliationRunner>().RunAsync(false, CancellationToken.None);

        Assert.True(run.Count("whatsapp_pace", "recipients_purged") >= 1, run.ToString());
        Assert.Equal(0L, await RecipientRowsAsync(earlier));
        Assert.Equal(1L, await RecipientRowsAsync(recent));
        Assert.False((await pace.TakeAsync(recent, CancellationToken.None)).Granted);
    }

    private Task<long> RecipientRowsAsync(params string[] phones) =>
        app.ScalarAsync<long>("select count(*) from whatsapp_recipient_pace where recipient_hash = any(@Hashes)",
            new { Hashes = phones.Select(p => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(p))).ToArray() });

    /// <summary>A sending number of the test's own, so the fixture's schedule is not disturbed.</summary>
    private static string NewNumber() => RandomNumberGenerator.GetInt32(100_000, 999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Another instance of the app: its own host and pool on the class's database, its own clock.</summary>
    private async Task<IHost> InstanceAsync(int messagesPerSecond, string phoneNumberId)
    {
        var settings = app.Settings();
        settings["WhatsApp:MessagesPerSecond"] = messagesPerSecond.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["WhatsApp:PhoneNumberId"] = phoneNumberId;
        var host = TestApp.BuildHost(settings);
        await host.StartAsync();
        return host;
    }
}
