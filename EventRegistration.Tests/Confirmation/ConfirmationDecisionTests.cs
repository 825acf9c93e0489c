using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Confirmation;

namespace EventRegistration.Tests.Confirmation;

/// <summary>The confirmation's decision as a table: facts under the locks → outcome and writes. No database.</summary>
public sealed class ConfirmationDecisionTests
{
    private static readonly DateTime Now = new(2026, 11, 25, 12, 0, 0, DateTimeKind.Utc);
    private static readonly Guid EventId = Guid.Parse("00000000-0000-4000-8000-00000000e001");
    private static readonly Guid RegistrationId = Guid.Parse("00000000-0000-4000-8000-00000000a001");
    private const string Order = "order_TDecision0001";
    private const string Pay = "pay_TDecision00001";
    private const long Price = 50_000;

    private static RegistrationRow Registration(string status = "pending", string? paymentId = null, int holdMinutes = 10, string? refundReason = null) => new()
    {
        Id = RegistrationId, EventId = EventId, MemberId = Guid.NewGuid(), Status = status, OrderId = Order, PaymentId = paymentId,
        AmountPaise = Price, Currency = "INR", HoldExpiresAt = status == "pending" ? Now.AddMinutes(holdMinutes) : null, RefundReason = refundReason,
    };

    private static SeatFacts Seats(int? capacity = 100, int attendees = 0, long? otherHolds = null, bool cancelled = false) =>
        new(EventId, capacity, attendees, otherHolds, cancelled);

    private static SeatFacts Cancelled => Seats(cancelled: true);

    private static LedgerPayment Known(string disposition, long? amount = Price, string? refundStatus = null, long refunded = 0, Guid? registrationId = null) => new()
    {
        PaymentId = Pay, Disposition = disposition, AmountPaise = amount, Currency = amount is null ? null : "INR",
        RefundStatus = refundStatus, AmountRefundedPaise = refunded, RegistrationId = registrationId,
    };

    private static PaymentReport Checkout => new(Order, Pay, null, null, ConfirmationSource.Checkout);

    private static PaymentReport Webhook(long amount = Price, string currency = "INR") => new(Order, Pay, amount, currency, ConfirmationSource.Webhook);

    private static ConfirmationDecisionResult Decide(PaymentReport report, RegistrationRow? registration, SeatFacts? seats = null,
        LedgerPayment? known = null, Guid? owner = null) =>
        ConfirmationDecision.Decide(new ConfirmationFacts(report, registration, registration is null ? null : seats ?? Seats(), owner, known, Now));

    /// <summary>One row: the outcome, the registration's change, the payment's disposition and refund state (or "-" for no write), the anomaly (or "-").</summary>
    private static string Row(ConfirmationDecisionResult d) =>
        $"{d.Outcome} {d.Change} {d.Payment?.Disposition ?? "-"}/{d.Payment?.RefundStatus ?? "-"} {(d.Anomaly is null ? "-" : AnomalyLog.Name(d.Anomaly.Kind))}";

    public static TheoryData<string, Func<ConfirmationDecisionResult>, string> Cases() => new()
    {
        // Orders.
        { "a browser's claim about an unknown order records nothing", () => Decide(Checkout, null), "UnknownOrder None -/- -" },
        { "Razorpay's report of an unknown order is recorded for an operator", () => Decide(Webhook(), null), "UnknownOrder None unknown_order/- unknown_order" },
        { "the same unknown order reported again writes nothing", () => Decide(Webhook(), null, known: Known("unknown_order")), "UnknownOrder None -/- -" },
        { "an applied payment reported under an unknown order stays applied", () => Decide(Webhook(), null, known: Known("applied", registrationId: Guid.NewGuid())), "UnknownOrder None -/- -" },
        { "a payment first seen in a refund, then under an unknown order, is recorded", () => Decide(Webhook(), null, known: Known("observed", refundStatus: "processed", refunded: Price)), "UnknownOrder None unknown_order/processed unknown_order" },

        // The normal path.
        { "a live hold is paid", () => Decide(Checkout, Registration()), "Paid MarkPaid applied/- -" },
        { "a capture after a failed attempt of the same payment is paid", () => Decide(Webhook(), Registration(), known: Known("failed_attempt")), "Paid MarkPaid applied/- -" },
        { "an event without capacity always has a seat", () => Decide(Checkout, Registration(holdMinutes: -1), Seats(capacity: null)), "Paid MarkPaid applied/- -" },
        { "a lapsed hold finds a free seat", () => Decide(Checkout, Registration(holdMinutes: -1), Seats(capacity: 2, attendees: 0, otherHolds: 1)), "Paid MarkPaid applied/- -" },

        // Replays.
        { "the same payment again is already paid", () => Decide(Checkout, Registration("paid", Pay)), "AlreadyPaid None -/- -" },
        { "the same payment of a full event again", () => Decide(Webhook(), Registration("refund_due", Pay, refundReason: "event_full")), "RefundDue None -/- -" },
        { "the same wrong payment again", () => Decide(Checkout, Registration("refund_due", Pay, refundReason: "amount_mismatch")), "AmountMismatch None -/- -" },
        { "a payment another registration holds", () => Decide(Checkout, Registration(), owner: Guid.NewGuid()), "PaymentUsedElsewhere None -/- -" },

        // Seats.
        { "a full event refunds", () => Decide(Checkout, Registration(), Seats(capacity: 1, attendees: 1)), "RefundDue MarkRefundDue event_full/due -" },
        { "a lapsed hold whose seat others hold refunds", () => Decide(Checkout, Registration(holdMinutes: -1), Seats(capacity: 2, attendees: 1, otherHolds: 1)), "RefundDue MarkRefundDue event_full/due -" },
        { "a second payment of a paid member is a duplicate", () => Decide(Webhook(), Registration("paid", "pay_TOtherPayment01")), "MemberAlreadyPaid None duplicate/due -" },
        { "the duplicate reported again writes nothing", () => Decide(Webhook(), Registration("paid", "pay_TOtherPayment01"), known: Known("duplicate", refundStatus: "requested", registrationId: RegistrationId)), "MemberAlreadyPaid None -/- -" },

        // Amounts: the decision is the same whichever report brings the amount first.
        { "a wrong amount on a pending order is refunded", () => Decide(Webhook(amount: 100), Registration()), "AmountMismatch MarkRefundDue amount_mismatch/due amount_mismatch" },
        { "a wrong currency on a pending order is refunded", () => Decide(Webhook(currency: "USD"), Registration()), "AmountMismatch MarkRefundDue amount_mismatch/due amount_mismatch" },
        { "a wrong amount after the checkout counted it withdraws the seat", () => Decide(Webhook(amount: 100), Registration("paid", Pay)), "AmountMismatch WithdrawPaid amount_mismatch/due amount_mismatch" },
        { "the checkout learns the wrong amount from the ledger", () => Decide(Checkout, Registration(), known: Known("observed", amount: 100)), "AmountMismatch MarkRefundDue amount_mismatch/due amount_mismatch" },
        { "a wrong amount is no duplicate question once the member paid", () => Decide(Webhook(amount: 100), Registration("paid", "pay_TOtherPayment01")), "MemberAlreadyPaid None duplicate/due -" },

        // Refunds the ledger saw before the capture.
        { "a capture after its whole refund pays for nothing", () => Decide(Webhook(), Registration(), known: Known("observed", refundStatus: "processed", refunded: Price)), "PaymentRefunded None refunded_before_capture/processed capture_after_refund" },
        { "a checkout after the whole refund pays for nothing", () => Decide(Checkout, Registration(), known: Known("observed", amount: null, refundStatus: "processed", refunded: Price)), "PaymentRefunded None refunded_before_capture/processed capture_after_refund" },
        { "a capture after a part refund pays for nothing and owes the rest", () => Decide(Webhook(), Registration(), known: Known("observed", refundStatus: "partial", refunded: Price / 2)), "PaymentRefunded None refunded_before_capture/due capture_after_refund" },
        { "the refunded capture reported again writes nothing", () => Decide(Checkout, Registration(), known: Known("refunded_before_capture", refundStatus: "processed", refunded: Price, registrationId: RegistrationId)), "PaymentRefunded None -/- -" },

        // A cancelled event: a late payment is recorded and refunded, as for a full event.
        { "a live hold of a cancelled event is refunded, not paid", () => Decide(Checkout, Registration(), Cancelled), "EventCancelled MarkRefundDue event_cancelled/due -" },
        { "a webhook's capture for a cancelled event is refunded", () => Decide(Webhook(), Registration(), Cancelled), "EventCancelled MarkRefundDue event_cancelled/due -" },
        { "a cancelled event with free seats and no capacity sells none", () => Decide(Checkout, Registration(holdMinutes: -1), Seats(capacity: null, cancelled: true)), "EventCancelled MarkRefundDue event_cancelled/due -" },
        { "an order the cancellation closed is refunded when its payment comes", () => Decide(Webhook(), Registration("cancelled"), Cancelled), "EventCancelled MarkRefundDue event_cancelled/due -" },
        { "a capture for a cancelled event after a failed attempt is refunded", () => Decide(Webhook(), Registration(), Cancelled, known: Known("failed_attempt")), "EventCancelled MarkRefundDue event_cancelled/due -" },
        { "the late payment of a cancelled event reported again writes nothing", () => Decide(Checkout, Registration("refund_due", Pay, refundReason: "event_cancelled"), Cancelled), "EventCancelled None -/- -" },
        { "its ledger entry met under another report writes nothing", () => Decide(Webhook(), Registration(), Cancelled, known: Known("event_cancelled", refundStatus: "requested", registrationId: RegistrationId)), "EventCancelled None -/- -" },
        { "a payment paid before the cancellation, replayed, stays paid (its refund is the cancellation's)", () => Decide(Checkout, Registration("paid", Pay), Cancelled), "AlreadyPaid None -/- -" },
        { "a second payment of a paid member of a cancelled event is a duplicate", () => Decide(Webhook(), Registration("paid", "pay_TOtherPayment01"), Cancelled), "MemberAlreadyPaid None duplicate/due -" },
        { "a wrong amount for a cancelled event is still told to an operator", () => Decide(Webhook(amount: 100), Registration(), Cancelled), "AmountMismatch MarkRefundDue amount_mismatch/due amount_mismatch" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decides(string situation, Func<ConfirmationDecisionResult> decide, string expected)
    {
        Assert.True(expected == Row(decide()), $"{situation}: expected {expected}, got {Row(decide())}");
    }

    [Fact]
    public void A_seat_that_depends_on_other_holds_is_not_decided_without_them()
    {
        Assert.True(ConfirmationDecision.HasSeat(Seats(capacity: 5), Registration(), Now));
        Assert.Throws<InvalidOperationException>(() => ConfirmationDecision.HasSeat(Seats(capacity: 5), Registration(holdMinutes: -1), Now));
    }

    [Fact]
    public void Every_anomaly_kind_has_one_stored_name()
    {
        var names = Enum.GetValues<AnomalyKind>().Select(AnomalyLog.Name).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.All(names, n => Assert.Matches("^[a-z]+(_[a-z]+)*$", n));
    }
}
