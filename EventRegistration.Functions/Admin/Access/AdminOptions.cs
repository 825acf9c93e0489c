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

    /// <summary>Most members one import file may hold; one more and nothing is imported (413).</summary>
    [Range(1, 200_000)]
    public int ImportMaxRows { get; set; } = 50_000;

    /// <summary>
    /// Largest import file. Read as it arrives, never held whole; the ceiling is Kestrel's default
    /// request limit (30,000,000 bytes), which the worker applies before the app sees the body.
    /// </summary>
    [Range(65_536, 30_000_000)]
    public int ImportMaxBodyBytes { get; set; } = 16_777_216;
}
