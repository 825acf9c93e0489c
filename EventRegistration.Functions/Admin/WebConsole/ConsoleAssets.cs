using System.Collections.Frozen;
using System.Security.Cryptography;
using Microsoft.AspNetCore.StaticFiles;

namespace EventRegistration.Functions.Admin.WebConsole;

/// <summary>
/// The console's files, embedded in this assembly at build time (wwwroot/ → "console/…"), read
/// once with their content type and a strong ETag. No file system and no build server at run time:
/// what was built is what is served.
/// </summary>
public sealed class ConsoleAssets
{
    private const string ResourcePrefix = "console/";
    private readonly FrozenDictionary<string, ConsoleAsset> _assets;

    public ConsoleAssets()
    {
        var assembly = typeof(ConsoleAssets).Assembly;
        var types = new FileExtensionContentTypeProvider();
        var assets = new Dictionary<string, ConsoleAsset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var bytes = buffer.ToArray();
            var path = name[ResourcePrefix.Length..];
            var contentType = types.TryGetContentType(path, out var known) ? known : "application/octet-stream";
            if (contentType.StartsWith("text/", StringComparison.Ordinal) || contentType is "application/javascript" or "text/javascript" or "application/json")
            {
                contentType += "; charset=utf-8";
            }

            var etag = "\"" + Convert.ToHexStringLower(SHA256.HashData(bytes).AsSpan(0, 16)) + "\"";
            assets[path] = new ConsoleAsset(path, bytes, contentType, etag);
        }

        _assets = assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    public IEnumerable<string> Paths => _assets.Keys;

    /// <summary>The file at <paramref name="path"/> (relative, "/"-separated; empty means index.html), or null.</summary>
    public ConsoleAsset? Find(string? path)
    {
        var key = string.IsNullOrEmpty(path) ? "index.html" : path;
        return _assets.GetValueOrDefault(key);
    }
}

public sealed record ConsoleAsset(string Path, byte[] Content, string ContentType, string ETag);
