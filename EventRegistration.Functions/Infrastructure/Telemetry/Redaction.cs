using System.Text.RegularExpressions;

namespace EventRegistration.Functions.Infrastructure.Telemetry;

/// <summary>
/// What a log line may show of a member's contact details: enough to tell two apart on a call
/// (country code and last four digits, the email's domain), never the whole. Text a provider
/// wrote (an error's message or description) passes through <see cref="Scrub"/> before it is
/// logged or stored as a reason, since providers echo the recipient in some errors.
/// </summary>
public static partial class Redaction
{
    /// <summary>+919812345678 → +91******5678.</summary>
    public static string MaskPhone(string phone)
    {
        var digits = phone.TrimStart('+');
        if (digits.Length < 7)
        {
            return new string('*', phone.Length);
        }

        var kept = digits[..2] + new string('*', digits.Length - 6) + digits[^4..];
        return phone.StartsWith('+') ? "+" + kept : kept;
    }

    /// <summary>asha@example.org → ***@example.org.</summary>
    public static string MaskEmail(string email)
    {
        var at = email.LastIndexOf('@');
        return at < 0 ? "***" : "***" + email[at..];
    }

    /// <summary>Every phone-like run of digits and every email address in <paramref name="text"/>, masked.</summary>
    public static string Scrub(string text) =>
        Emails().Replace(Phones().Replace(text, m => MaskPhone(m.Value)), m => MaskEmail(m.Value));

    // Seven or more digits in a row (optionally after '+'): phone numbers in any of the forms
    // providers write them. Ids this app logs are not bare digit runs, so they stay readable.
    [GeneratedRegex(@"\+?\d{7,}")]
    private static partial Regex Phones();

    [GeneratedRegex(@"[^\s@""'<>(),;:]+@[^\s@""'<>(),;:]+")]
    private static partial Regex Emails();
}
