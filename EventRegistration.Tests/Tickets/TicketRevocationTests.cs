using System.Security.Cryptography;
using EventRegistration.Functions.Confirmation;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Razorpay;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventRegistration.Tests.Tickets;

/// <summary>
/// A signature cannot be withdrawn, so a ticket's worth at the door is its signature and then its
/// registration's state (TicketVerifier, which the door check-in builds on).
/// </summary>
public sealed class TicketRevocationTests(TestApp app) : IClassFixture<TestApp>
{
    private TicketVerifier Verifier => app.Services.GetRequiredService<TicketVerifier>();

    [Fact]
    public async Task A_refund_that_releases_the_seat_revokes_the_ticket_and_the_seat_sold_again_gets_a_valid_one()
    {
        // The last seat of an event, paid and its ticket delivered.
        var eventId = await app.CreateEventAsync(capacity: 1);
        var first = await PayAndDeliverAsync(eventId, "+919811100001");
        var token = TicketScenario.DecodeQr(await TicketScenario.StoredTicketPngAsync(first.RegistrationId));
        var valid = await Verifier.CheckAsync(token, CancellationToken.None);
        Assert.Equal(TicketVerdict.Valid, valid.Verdict);
        Assert.Null(valid.Reason);
        Assert.Equal(new TicketClaims(first.RegistrationId, eventId), valid.Claims);

        // refund.processed for the whole amount releases the seat.
        var (paymentId, amount) = (await app.QueryAsync<(string, long)>(
            "select payment_id, amount_paise from event_registrations where id = @RegistrationId", new { first.RegistrationId })).Single();
        var outcome = await app.Services.GetRequiredService<PaymentLedger>().RecordRefundProcessedAsync(
            new RazorpayRefund { Id = "rfnd_T" + Guid.NewGuid().ToString("N")[..14], PaymentId = paymentId, Amount = amount, Currency = "INR", Status = "processed" },
            "webhook", CancellationToken.None);
        Assert.Equal("refunded_seat_released", outcome);

        // The seat is sold again to someone else, whose ticket admits them.
        var second = await PayAndDeliverAsync(eventId, "+919811100002");
        var secondToken = TicketScenario.DecodeQr(await TicketScenario.StoredTicketPngAsync(second.RegistrationId));
        Assert.Equal(TicketVerdict.Valid, (await Verifier.CheckAsync(secondToken, CancellationToken.None)).Verdict);

        // The refunded member's QR still carries a good signature, and no longer admits.
        Assert.NotNull(TicketToken.Verify(token, TestTicketKey.PublicKeyPem));
        var revoked = await Verifier.CheckAsync(token, CancellationToken.None);
        Assert.Equal(TicketVerdict.Revoked, revoked.Verdict);
        Assert.Equal(TicketCheck.Refunded, revoked.Reason);
        Assert.Equal(first.RegistrationId, revoked.Claims!.RegistrationId);
        await app.AssertAllAsync();
    }

    [Theory]
    [InlineData("refund_due", TicketCheck.RefundDue)]
    [InlineData("refunded", TicketCheck.Refunded)]
    public async Task A_paid_seat_given_back_revokes_its_ticket(string status, string reason)
    {
        var ticket = await app.PaidTicketAsync();
        var token = app.Services.GetRequiredService<TicketSigner>().CreateToken(ticket.RegistrationId, ticket.EventId);
        await app.ExecuteAsync("""
            update event_registrations set status = @status where id = @RegistrationId;
            update events set attendee_count = attendee_count - 1 where id = @EventId;
            """, new { status, ticket.RegistrationId, ticket.EventId });

        var check = await Verifier.CheckAsync(token, CancellationToken.None);

        Assert.Equal(new TicketCheck(TicketVerdict.Revoked, reason, new TicketClaims(ticket.RegistrationId, ticket.EventId)), check);
    }

    [Fact]
    public async Task A_registration_never_paid_or_cancelled_and_a_cancelled_event_do_not_admit()
    {
        var signer = app.Services.GetRequiredService<TicketSigner>();
        var eventId = await app.CreateEventAsync();
        var (pending, _) = await app.OrderAsync(eventId, await app.CreateMemberAsync("+919811100003"));
        var (cancelled, _) = await app.OrderAsync(eventId, await app.CreateMemberAsync("+919811100004"));
        await app.ExecuteAsync("update event_registrations set status = 'cancelled' where id = @cancelled", new { cancelled });

        Assert.Equal(TicketCheck.NotPaid, (await Verifier.CheckAsync(signer.CreateToken(pending, eventId), CancellationToken.None)).Reason);
        Assert.Equal(TicketCheck.Cancelled, (await Verifier.CheckAsync(signer.CreateToken(cancelled, eventId), CancellationToken.None)).Reason);
        // Signed, but naming no registration of that event (a restored database, a token of another event).
        Assert.Equal(TicketCheck.UnknownRegistration, (await Verifier.CheckAsync(signer.CreateToken(pending, Guid.NewGuid()), CancellationToken.None)).Reason);
        Assert.Equal(TicketCheck.UnknownRegistration, (await Verifier.CheckAsync(signer.CreateToken(Guid.NewGuid(), eventId), CancellationToken.None)).Reason);

        var paid = await app.PaidTicketAsync();
        await app.ExecuteAsync("update events set status = 'cancelled' where id = @EventId", new { paid.EventId });
        var check = await Verifier.CheckAsync(signer.CreateToken(paid.RegistrationId, paid.EventId), CancellationToken.None);
        Assert.Equal((TicketVerdict.Revoked, TicketCheck.EventCancelled), (check.Verdict, check.Reason));
    }

    private async Task<PaidTicket> PayAndDeliverAsync(Guid eventId, string phone)
    {
        var memberId = await app.CreateMemberAsync(phone, "Seat Holder");
        var (registrationId, orderId) = await app.OrderAsync(eventId, memberId);
        var confirmed = await app.ConfirmAsync(orderId, TestApp.NewPaymentId());
        Assert.True(confirmed.Status is 200 or 201, confirmed.ToString());
        var message = await app.TakeQueueMessageAsync(registrationId);
        await app.DeliverAsync(message);
        Assert.Single(app.WhatsApp.SentTo(phone));
        return new PaidTicket(registrationId, eventId, phone, "Seat Holder", message);
    }
}

/// <summary>Forged and malformed tokens are refused by the signature alone: the database is down and they are still answered.</summary>
public sealed class ForgedTicketTests(ProxiedDatabaseApp app) : IClassFixture<ProxiedDatabaseApp>
{
    public static TheoryData<string?> NotOurs()
    {
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var otherSigned = TicketToken.Create(Guid.NewGuid(), Guid.NewGuid(), otherKey);
        return new TheoryData<string?>
        {
            null,
            "",
            "not a ticket",
            "AQ.AQ",
            new string('A', 5000),
            otherSigned,
            "\u0000.\u0001",
        };
    }

    [Theory]
    [MemberData(nameof(NotOurs))]
    public async Task A_token_this_app_did_not_sign_is_forged_without_asking_the_database(string? token)
    {
        var verifier = app.Services.GetRequiredService<TicketVerifier>();
        var genuine = app.Services.GetRequiredService<TicketSigner>().CreateToken(Guid.NewGuid(), Guid.NewGuid());
        app.Proxy.GoDown();
        try
        {
            Assert.Equal(TicketCheck.Forged, await verifier.CheckAsync(token, CancellationToken.None));

            // One altered character of a genuine token: forged too.
            var altered = genuine[..10] + (genuine[10] == 'A' ? 'B' : 'A') + genuine[11..];
            Assert.Equal(TicketCheck.Forged, await verifier.CheckAsync(altered, CancellationToken.None));
        }
        finally
        {
            app.Proxy.Restore();
        }
    }

    [Fact]
    public async Task A_genuine_token_needs_the_registration_and_a_database_down_is_said_so_not_answered_valid()
    {
        var verifier = app.Services.GetRequiredService<TicketVerifier>();
        var genuine = app.Services.GetRequiredService<TicketSigner>().CreateToken(Guid.NewGuid(), Guid.NewGuid());
        app.Proxy.GoDown();
        try
        {
            await Assert.ThrowsAsync<DependencyUnavailableException>(() => verifier.CheckAsync(genuine, CancellationToken.None));
        }
        finally
        {
            app.Proxy.Restore();
        }
    }
}
