using System.ComponentModel.DataAnnotations;

namespace EventRegistration.Functions.Admin.Access;

/// <summary>Who may call the admin API: keys (as hashes) for scripts, and whether App Service Authentication is in front.</summary>
public sealed class AdminOptions
{
    public const string Section = "Admin";

    /// <summary>
    /// Comma-separated <c>role:sha256hex</c> entries, e.g. <c>operator:9f86…,organiser:2c26…</c>. Only the
    /// SHA-256 of a key is ever configured; several entries let a key be rotated without downtime.
    /// Empty: no key works.
    /// </summary>
    public string KeyHashes { get; set; } = "";

    /// <summary>
    /// True only where App Service Authentication runs in front of the app: it strips client-sent
    /// <c>X-MS-CLIENT-PRINCIPAL</c> headers, so only then do they say who signed in.
    /// </summary>
    public bool TrustAppServiceAuthentication { get; set; }

    [Range(1024, 1_048_576)]
    public int MaxBodyBytes { get; set; } = 65_536;
}
