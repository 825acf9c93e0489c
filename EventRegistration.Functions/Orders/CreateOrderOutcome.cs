namespace EventRegistration.Functions.Orders;

public sealed record OrderCreated(
    Guid RegistrationId, Guid EventId, Guid MemberId, string OrderId, long Amount, string Currency, string KeyId, DateTime HoldExpiresAt);

/// <summary>What an order request came to. <see cref="CreateOrderFunction"/> maps each to HTTP, in one switch.</summary>
public abstract record CreateOrderOutcome
{
    private CreateOrderOutcome()
    {
    }

    /// <summary>A new Razorpay order for the member's seat hold.</summary>
    public sealed record Created(OrderCreated Order) : CreateOrderOutcome;

    /// <summary>The member's live order, answered again (a retry, a second tab, or a race lost to another request).</summary>
    public sealed record Reused(OrderCreated Order) : CreateOrderOutcome;

    public sealed record EventNotFound : CreateOrderOutcome;

    public sealed record EventNotOpen(string Status) : CreateOrderOutcome;

    public sealed record MemberNotFound : CreateOrderOutcome;

    /// <summary>The member has a live registration that is paid or has its refund under way.</summary>
    public sealed record AlreadyRegistered(Guid RegistrationId, string Status) : CreateOrderOutcome;

    /// <summary>Every seat is paid or held by another member's live order.</summary>
    public sealed record EventFull : CreateOrderOutcome;
}
