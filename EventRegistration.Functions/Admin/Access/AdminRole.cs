namespace EventRegistration.Functions.Admin.Access;

/// <summary>Organisers run events, members and attendees; operators may do that and also act on money, tickets and anomalies.</summary>
public enum AdminRole
{
    Organiser = 1,
    Operator = 2,
}

public static class AdminRoles
{
    public static string Name(AdminRole role) => role switch
    {
        AdminRole.Organiser => "organiser",
        AdminRole.Operator => "operator",
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    public static AdminRole? Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        "organiser" or "organizer" => AdminRole.Organiser,
        "operator" => AdminRole.Operator,
        _ => null,
    };

    /// <summary>An operator holds every organiser right too.</summary>
    public static bool Covers(AdminRole held, AdminRole required) => held >= required;
}

/// <summary>Who is acting: written on every audit row.</summary>
public sealed record AdminActor(string Name, AdminRole Role);
