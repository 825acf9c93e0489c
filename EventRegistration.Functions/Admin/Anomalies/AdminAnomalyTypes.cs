namespace EventRegistration.Functions.Admin.Anomalies;

public sealed record AdminAnomaly(
    long Id, string Kind, Guid? EventId, Guid? RegistrationId, string? PaymentId, string Detail, DateTime CreatedAt,
    DateTime? ResolvedAt, string? ResolvedBy, string? ResolutionNote);

/// <summary>One page of open anomalies, oldest first; <c>nextAfter</c> is the id to ask from for the next page, absent at the end.</summary>
public sealed record AnomalyPage(IReadOnlyList<AdminAnomaly> Anomalies, long? NextAfter);

/// <summary>What a resolution came to. <see cref="AdminAnomaliesFunction"/> maps each to HTTP, in one switch.</summary>
public abstract record ResolveAnomalyOutcome
{
    private ResolveAnomalyOutcome()
    {
    }

    public sealed record Resolved(AdminAnomaly Anomaly) : ResolveAnomalyOutcome;

    public sealed record NotFound : ResolveAnomalyOutcome;

    /// <summary>Resolved before, by someone (perhaps the same caller's earlier request); left as it was.</summary>
    public sealed record AlreadyResolved(AdminAnomaly Anomaly) : ResolveAnomalyOutcome;
}
