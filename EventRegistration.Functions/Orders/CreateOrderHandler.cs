using System.Globalization;
using Dapper;
using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Razorpay;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace EventRegistration.Functions.Orders;

/// <summary>
/// Holds a seat and creates the Razorpay order for it. The seat is taken under the event's row
/// lock; the Razorpay call happens after that transaction, and the order id is stored only if
/// the registration has none yet, so a retry after a failure or a lost answer reuses it.
/// A member's registration that was refunded in whole is history: a new order makes a new
/// registration (its own order, hold and ticket) beside it, see docs/design.md.
/// </summary>
public sealed class CreateOrderHandler(
    Database database,
    RazorpayClient razorpay,
    IOptions<RazorpayOptions> razorpayOptions,
    IOptions<OrderOptions> orderOptions,
    TimeProvider clock,
    ILogger<CreateOrderHandler> logger)
{
    private const string LockEvent = "select id, status, capacity, attendee_count, price_paise, currency from events where id = @EventId for update";
    private const string MemberExists = "select exists (select 1 from members where id = @MemberId)";

    /// <summary>The member's live registration: at most one is not refunded (unique index event_registrations_one_live_per_member).</summary>
    private const string LockRegistration = """
        select id, status, order_id, hold_expires_at, amount_paise, currency
          from event_registrations where event_id = @EventId and member_id = @MemberId and status <> 'refunded' for update
        """;

    private const string InsertRegistration = """
        insert into event_registrations (id, event_id, member_id, status, amount_paise, currency, hold_expires_at, created_at, updated_at)
        values (@Id, @EventId, @MemberId, 'pending', @AmountPaise, @Currency, @HoldExpiresAt, @Now, @Now)
        """;

    private const string RenewHold = """
        update event_registrations set status = 'pending', hold_expires_at = @HoldExpiresAt, updated_at = @Now where id = @Id
        """;

    private const string StoreOrderId = """
        update event_registrations set order_id = @OrderId, updated_at = @Now where id = @Id and order_id is null;
        select order_id from event_registrations where id = @Id;
        """;

    public async Task<CreateOrderOutcome> HandleAsync(Guid eventId, Guid memberId, CancellationToken cancellationToken)
    {
        var hold = await database.InTransactionAsync("create_order",
            (connection, transaction) => HoldSeatAsync(connection, transaction, eventId, memberId), cancellationToken);
        if (hold.Refusal is not null)
        {
            return hold.Refusal;
        }

        using var registrationScope = logger.BeginPaymentScope(registrationId: hold.RegistrationId, orderId: hold.OrderId);
        var orderId = hold.OrderId;
        var created = false;
        if (orderId is null)
        {
            var notes = new Dictionary<string, string>
            {
                ["registration_id"] = hold.RegistrationId.ToString(),
                ["event_id"] = eventId.ToString(),
                ["member_id"] = memberId.ToString(),
            };
            var order = await razorpay.CreateOrderAsync(hold.AmountPaise, hold.Currency, Receipt(hold.RegistrationId), notes, cancellationToken);
            orderId = await database.RunAsync("store_order_id", connection => connection.QuerySingleAsync<string>(
                StoreOrderId, new { OrderId = order.Id, Id = hold.RegistrationId, Now = clock.GetUtcNow().UtcDateTime }), cancellationToken);
            created = orderId == order.Id;
            if (!created)
            {
                logger.LogWarning("Order {OrderId} for {RegistrationId} lost a race; {StoredOrderId} is kept", order.Id, hold.RegistrationId, orderId);
            }
        }

        var answer = new OrderCreated(hold.RegistrationId, eventId, memberId, orderId, hold.AmountPaise, hold.Currency,
            razorpayOptions.Value.KeyId, hold.HoldExpiresAt);
        if (!created)
        {
            return new CreateOrderOutcome.Reused(answer);
        }

        using var orderScope = logger.BeginPaymentScope(orderId: orderId);
        logger.LogInformation("Order {OrderId} created for {RegistrationId}, seat held until {HoldExpiresAt:o}", orderId, hold.RegistrationId, hold.HoldExpiresAt);
        return new CreateOrderOutcome.Created(answer);
    }

    /// <summary>Razorpay's receipt: at most 40 characters, one per registration.</summary>
    public static string Receipt(Guid registrationId) => "reg_" + registrationId.ToString("N", CultureInfo.InvariantCulture);

    private async Task<SeatHold> HoldSeatAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid eventId, Guid memberId)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var holdUntil = now.AddMinutes(orderOptions.Value.SeatHoldMinutes);
        var ev = await connection.QuerySingleOrDefaultAsync<EventRow>(LockEvent, new { EventId = eventId }, transaction);
        if (ev is null)
        {
            return SeatHold.Refused(new CreateOrderOutcome.EventNotFound());
        }

        if (ev.Status != "open")
        {
            return SeatHold.Refused(new CreateOrderOutcome.EventNotOpen(ev.Status));
        }

        if (!await connection.ExecuteScalarAsync<bool>(MemberExists, new { MemberId = memberId }, transaction))
        {
            return SeatHold.Refused(new CreateOrderOutcome.MemberNotFound());
        }

        var existing = await connection.QuerySingleOrDefaultAsync<ExistingRow>(LockRegistration, new { EventId = eventId, MemberId = memberId }, transaction);
        // Refund due: the member's money is still on its way back; they may buy again once it is.
        if (existing is { Status: "paid" or "refund_due" })
        {
            return SeatHold.Refused(new CreateOrderOutcome.AlreadyRegistered(existing.Id, existing.Status));
        }

        if (existing is { Status: "pending" } && existing.HoldExpiresAt > now)
        {
            return new SeatHold(existing.Id, existing.OrderId, existing.AmountPaise, existing.Currency, existing.HoldExpiresAt.Value, null);
        }

        var registrationId = existing?.Id ?? Guid.NewGuid();
        if (ev.Capacity is { } capacity)
        {
            var otherHolds = await SeatHolds.CountOthersAsync(connection, transaction, eventId, registrationId, now);
            if (ev.AttendeeCount + otherHolds >= capacity)
            {
                return SeatHold.Refused(new CreateOrderOutcome.EventFull());
            }
        }

        if (existing is null)
        {
            await connection.ExecuteAsync(InsertRegistration, new
            {
                Id = registrationId,
                EventId = eventId,
                MemberId = memberId,
                ev.PricePaise,
                AmountPaise = ev.PricePaise,
                ev.Currency,
                HoldExpiresAt = holdUntil,
                Now = now,
            }, transaction);
            return new SeatHold(registrationId, null, ev.PricePaise, ev.Currency, holdUntil, null);
        }

        // A pending registration whose hold lapsed, or a cancelled one: hold again, keep its order.
        await connection.ExecuteAsync(RenewHold, new { Id = existing.Id, HoldExpiresAt = holdUntil, Now = now }, transaction);
        return new SeatHold(existing.Id, existing.OrderId, existing.AmountPaise, existing.Currency, holdUntil, null);
    }

    private sealed record SeatHold(Guid RegistrationId, string? OrderId, long AmountPaise, string Currency, DateTime HoldExpiresAt, CreateOrderOutcome? Refusal)
    {
        public static SeatHold Refused(CreateOrderOutcome refusal) => new(Guid.Empty, null, 0, "", default, refusal);
    }

    private sealed class EventRow
    {
        public Guid Id { get; init; }
        public string Status { get; init; } = "";
        public int? Capacity { get; init; }
        public int AttendeeCount { get; init; }
        public long PricePaise { get; init; }
        public string Currency { get; init; } = "";
    }

    private sealed class ExistingRow
    {
        public Guid Id { get; init; }
        public string Status { get; init; } = "";
        public string? OrderId { get; init; }
        public DateTime? HoldExpiresAt { get; init; }
        public long AmountPaise { get; init; }
        public string Currency { get; init; } = "";
    }
}
