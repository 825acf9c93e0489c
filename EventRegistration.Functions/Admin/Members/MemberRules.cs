using System.Text.Json;
using PhoneNumbers;

namespace EventRegistration.Functions.Admin.Members;

/// <summary>What is wrong with one member's data: the field at fault and why; <see cref="Missing"/> when it was not given at all.</summary>
public sealed record MemberFieldError(string Field, string Reason, bool Missing = false);

/// <summary>
/// The one set of rules a member's data must meet, used by the single upsert (a JSON body) and the
/// bulk import (a CSV row or a JSON line) alike, so the two can never accept different members.
/// The first fault found is reported, in the order id, name, whatsApp, email.
/// </summary>
public static class MemberRules
{
    public const string IdField = "memberId";
    public const int MaxNameLength = 200;
    public const int MaxEmailLength = 320;

    private static readonly PhoneNumberUtil Phones = PhoneNumberUtil.GetInstance();

    public static Guid? ParseId(string? text) => Guid.TryParse(text, out var id) ? id : null;

    public static MemberFieldError IdError(string? text) => string.IsNullOrEmpty(text)
        ? new MemberFieldError(IdField, $"'{IdField}' is required.", Missing: true)
        : new MemberFieldError(IdField, $"'{IdField}' must be a UUID.");

    /// <summary>A JSON object's <c>name</c>, <c>whatsApp</c> and <c>email</c>: each must be a string (email may be null or absent).</summary>
    public static MemberInput? FromJson(JsonElement root, out MemberFieldError? error)
    {
        if (!JsonString(root, "name", out var name, out error) || !JsonString(root, "whatsApp", out var phone, out error)
            || !JsonString(root, "email", out var email, out error))
        {
            return null;
        }

        return Check(name, phone, email, emptyEmailIsAbsent: false, out error);
    }

    /// <summary>Text cells (a CSV row): an empty email cell means no email.</summary>
    public static MemberInput? FromText(string? name, string? whatsApp, string? email, out MemberFieldError? error) =>
        Check(name, whatsApp, email, emptyEmailIsAbsent: true, out error);

    private static MemberInput? Check(string? name, string? whatsApp, string? email, bool emptyEmailIsAbsent, out MemberFieldError? error)
    {
        error = null;
        if (string.IsNullOrEmpty(name))
        {
            error = new MemberFieldError("name", "'name' is required.", Missing: name is null);
        }
        else if (name.Trim().Length == 0 || name.Length > MaxNameLength)
        {
            error = new MemberFieldError("name", $"'name' must hold 1 to {MaxNameLength} characters, not only spaces.");
        }
        else if (name.Contains('\0'))
        {
            // PostgreSQL text cannot hold NUL: refused here, or the database would refuse the whole request.
            error = new MemberFieldError("name", "'name' must not contain the NUL character.");
        }
        else if (string.IsNullOrEmpty(whatsApp))
        {
            error = new MemberFieldError("whatsApp", "'whatsApp' is required.", Missing: whatsApp is null);
        }
        else if (ToE164(whatsApp) is not { } e164)
        {
            error = new MemberFieldError("whatsApp", "'whatsApp' must be a valid phone number in international form, e.g. +919812345678.");
        }
        else
        {
            if (emptyEmailIsAbsent && email?.Length == 0)
            {
                email = null;
            }

            if (email is not null && (email.Length > MaxEmailLength || email.IndexOf('@') is < 1 || email.IndexOf('@') == email.Length - 1 || email.Contains('\0')))
            {
                error = new MemberFieldError("email", $"'email' must be an email address (at most {MaxEmailLength} characters), or absent.");
                return null;
            }

            return new MemberInput(name, e164, email);
        }

        return null;
    }

    /// <summary>The number in E.164, or null: it must start with + and be a valid number of its country.</summary>
    private static string? ToE164(string text)
    {
        if (!text.StartsWith('+') || text.Length > 32)
        {
            return null;
        }

        try
        {
            var number = Phones.Parse(text, null);
            return Phones.IsValidNumber(number) ? Phones.Format(number, PhoneNumberFormat.E164) : null;
        }
        catch (NumberParseException)
        {
            return null;
        }
    }

    /// <returns>False with <paramref name="error"/> when the property is there but not a string; absent and null read as null.</returns>
    private static bool JsonString(JsonElement root, string name, out string? value, out MemberFieldError? error)
    {
        value = null;
        error = null;
        if (!root.TryGetProperty(name, out var property) || property.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (property.ValueKind != JsonValueKind.String)
        {
            error = new MemberFieldError(name, $"'{name}' must be a string, not {property.ValueKind.ToString().ToLowerInvariant()}.");
            return false;
        }

        value = property.GetString();
        return true;
    }
}
