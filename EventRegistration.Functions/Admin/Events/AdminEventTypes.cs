namespace EventRegistration.Functions.Admin.Events;

/// <summary>An event as an organiser sets it: every field, validated by <see cref="EventInputReader"/>.</summary>
public sealed record EventInput(
    string Title, DateTimeOffset StartsAt, string TimeZone, string? Venue, int? Capacity, long PricePaise, string Currency, string Status);

/// <summary>An event as the admin API shows it, with its seats: paid, held by live orders, and free (null when uncapped).</summary>
public sealed record AdminEvent(
    Guid Id, string Title, DateTimeOffset StartsAt, string TimeZone, string? Venue, int? Capacity, long PricePaise, string Currency,
    string Status, int PaidSeats, long HeldSeats, long? FreeSeats);

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
