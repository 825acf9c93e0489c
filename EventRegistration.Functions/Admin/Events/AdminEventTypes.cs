namespace EventRegistration.Functions.Admin.Events;

/// <summary>An event as an organiser sets it: every field, validated by <see cref="EventInputReader"/>.</summary>
public sealed record EventInput(
    string Title, DateTimeOffset StartsAt, string TimeZone, string? Venue, int? Capacity, long PricePaise, string Currency, string Status);

/// <summary>
/// An event as the admin API shows it, with its seats: paid, held by live orders, and free (null when uncapped);
/// a cancelled one with its cancellation and how far its refunds have come.
/// </summary>
public sealed record AdminEvent(
    Guid Id, string Title, DateTimeOffset StartsAt, string TimeZone, string? Venue, int? Capacity, long PricePaise, string Currency,
    string Status, int PaidSeats, long HeldSeats, long? FreeSeats, EventCancellation? Cancellation = null);

/// <summary>When, why and by whom an event was cancelled (null for an event cancelled before this was recorded), and its refunds.</summary>
public sealed record EventCancellation(DateTime? CancelledAt, string? Reason, string? CancelledBy, CancellationRefunds Refunds);

/// <summary>
/// The payments of a cancelled event (those that paid for a seat, and those that came after the
/// cancellation) by where their refund stands in the ledger. <see cref="NotYetDue"/>: still paid and
/// not yet owed (the cancellation, or the next reconciliation, makes them due); <see cref="Due"/>:
/// owed, waiting for the reconciliation to ask Razorpay; <see cref="Requested"/>: asked, waiting for
/// Razorpay's answer; <see cref="Processed"/>: the whole amount is back, the seat released;
/// <see cref="Failed"/>: Razorpay refused or failed it, an operator must act (an anomaly says so).
/// </summary>
public sealed record CancellationRefunds(long NotYetDue, long Due, long Requested, long Processed, long Failed)
{
    public static readonly CancellationRefunds None = new(0, 0, 0, 0, 0);
}

/// <summary>What an event change came to. <see cref="AdminEventsFunction"/> maps each to HTTP, in one switch.</summary>
public abstract record EventChangeOutcome
{
    private EventChangeOutcome()
    {
    }

    public sealed record Created(AdminEvent Event) : EventChangeOutcome;

    public sealed record Updated(AdminEvent Event) : EventChangeOutcome;

    public sealed record NotFound : EventChangeOutcome;

    /// <summary>A cancelled event is final: its refunds are under way.</summary>
    public sealed record Cancelled : EventChangeOutcome;

    /// <summary>The new capacity is below the seats already paid plus those held by live orders.</summary>
    public sealed record CapacityBelowTaken(int Paid, long Held) : EventChangeOutcome;
}
