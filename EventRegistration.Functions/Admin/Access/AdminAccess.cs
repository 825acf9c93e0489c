using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Admin.Access;

/// <summary>What <see cref="AdminAccess.Check"/> decided about one request.</summary>
public abstract record AdminAccessDecision
{
    private AdminAccessDecision()
    {
    }

    public sealed record Allowed(AdminActor Actor) : AdminAccessDecision;

    /// <summary>No credentials the app accepts: 401.</summary>
    public sealed record Unauthenticated(string Reason) : AdminAccessDecision;

    /// <summary>Known caller (a key, or a signed-in person), role too small or none: 403.</summary>
    public sealed record Forbidden(string Actor, AdminRole Required) : AdminAccessDecision;
}

/// <summary>
/// The one place that decides who may call the admin API. Two ways in: an admin key of the app's own
/// (header <c>X-Admin-Key</c>; only its SHA-256 is configured, compared in constant time against every
/// configured hash), and the App Service Authentication principal (<c>X-MS-CLIENT-PRINCIPAL</c>),
/// read only when <see cref="AdminOptions.TrustAppServiceAuthentication"/> says the platform put it
/// there — otherwise those headers are whatever the caller sent, and are ignored.
/// </summary>
public sealed class AdminAccess(IOptions<AdminOptions> options)
{
    public const string KeyHeader = "X-Admin-Key";
    public const string PrincipalHeader = "X-MS-CLIENT-PRINCIPAL";
    public const string PrincipalNameHeader = "X-MS-CLIENT-PRINCIPAL-NAME";

    private readonly IReadOnlyList<(AdminRole Role, byte[] Hash)> _keys = ParseKeyHashes(options.Value.KeyHashes, out _);
    private readonly bool _trustPrincipal = options.Value.TrustAppServiceAuthentication;

    public AdminAccessDecision Check(HttpRequest request, AdminRole required)
    {
        var (name, role, reason) = Identify(request);
        if (name is null)
        {
            return new AdminAccessDecision.Unauthenticated(reason);
        }

        return role is { } held && AdminRoles.Covers(held, required)
            ? new AdminAccessDecision.Allowed(new AdminActor(name, held))
            : new AdminAccessDecision.Forbidden(name, required);
    }

    /// <returns>Who is calling (null: nobody the app knows, with the reason) and the highest admin role they hold, if any.</returns>
    private (string? Name, AdminRole? Role, string Reason) Identify(HttpRequest request)
    {
        if (request.Headers.TryGetValue(KeyHeader, out var keyValues))
        {
            // A key that is presented decides alone: a wrong key is never rescued by other headers.
            var actor = FromKey(keyValues.ToString());
            return (actor?.Name, actor?.Role, "The admin key is not valid.");
        }

        if (_trustPrincipal && request.Headers.TryGetValue(PrincipalHeader, out var principal))
        {
            return FromPrincipal(principal.ToString(), request.Headers[PrincipalNameHeader].ToString());
        }

        return (null, null, _trustPrincipal
            ? $"Sign in, or send an admin key in the '{KeyHeader}' header."
            : $"Send an admin key in the '{KeyHeader}' header.");
    }

    private AdminActor? FromKey(string key)
    {
        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        AdminActor? match = null;
        foreach (var (role, hash) in _keys)
        {
            // Every configured hash is compared, so the time taken does not say which entry matched.
            if (CryptographicOperations.FixedTimeEquals(presented, hash) && match is null)
            {
                match = new AdminActor("key:" + Convert.ToHexStringLower(hash)[..12], role);
            }
        }

        return match;
    }

    private static (string? Name, AdminRole? Role, string Reason) FromPrincipal(string encoded, string nameHeader)
    {
        try
        {
            using var document = JsonDocument.Parse(Convert.FromBase64String(encoded));
            var root = document.RootElement;
            var roleType = root.TryGetProperty("role_typ", out var rt) && rt.ValueKind == JsonValueKind.String ? rt.GetString() : null;
            var nameType = root.TryGetProperty("name_typ", out var nt) && nt.ValueKind == JsonValueKind.String ? nt.GetString() : null;
            AdminRole? best = null;
            string? name = nameHeader.Length > 0 ? nameHeader : null;
            if (root.TryGetProperty("claims", out var claims) && claims.ValueKind == JsonValueKind.Array)
            {
                foreach (var claim in claims.EnumerateArray())
                {
                    var type = claim.TryGetProperty("typ", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                    var value = claim.TryGetProperty("val", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
                    if (type is null || value is null)
                    {
                        continue;
                    }

                    if (type == "roles" || type == roleType)
                    {
                        if (AdminRoles.Parse(value) is { } role && (best is null || role > best))
                        {
                            best = role;
                        }
                    }
                    else if (name is null && type == nameType)
                    {
                        name = value;
                    }
                }
            }

            // Signed in without an admin role: known, but not allowed (403), never anonymous.
            return ("user:" + (name ?? "unnamed"), best, "");
        }
        catch (Exception e) when (e is FormatException or JsonException or InvalidOperationException)
        {
            return (null, null, $"The '{PrincipalHeader}' header is malformed.");
        }
    }

    /// <summary>Parses <see cref="AdminOptions.KeyHashes"/>; <paramref name="problems"/> names every bad entry (never its value).</summary>
    public static IReadOnlyList<(AdminRole Role, byte[] Hash)> ParseKeyHashes(string setting, out List<string> problems)
    {
        problems = [];
        var keys = new List<(AdminRole, byte[])>();
        var entries = setting.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < entries.Length; i++)
        {
            var parts = entries[i].Split(':', 2, StringSplitOptions.TrimEntries);
            var role = parts.Length == 2 ? AdminRoles.Parse(parts[0]) : null;
            byte[]? hash = null;
            if (parts.Length == 2 && parts[1].Length == 64)
            {
                try
                {
                    hash = Convert.FromHexString(parts[1]);
                }
                catch (FormatException)
                {
                }
            }

            if (role is null || hash is null)
            {
                problems.Add($"Admin__KeyHashes entry {i + 1} must be 'organiser:<sha256 hex>' or 'operator:<sha256 hex>' (64 hex digits).");
                continue;
            }

            keys.Add((role.Value, hash));
        }

        return keys;
    }
}
