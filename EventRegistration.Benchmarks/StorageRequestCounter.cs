using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace EventRegistration.Benchmarks;

/// <summary>
/// Counts the HTTP requests this process makes to Azurite (the app's and the simulated host's
/// alike), by service and method, from .NET's own <c>http.client.request.duration</c> metric: the
/// storage round trips per ticket as a count, which the loaded machine cannot blur as it blurs CPU.
/// </summary>
public sealed class StorageRequestCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, int> _counts = new();
    private readonly int _blobPort;
    private readonly int _queuePort;

    public StorageRequestCounter()
    {
        _queuePort = int.TryParse(Environment.GetEnvironmentVariable("EVREG_BENCH_AZURITE_PORT"), out var port) ? port : 10001;
        _blobPort = _queuePort - 1;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "System.Net.Http" && instrument.Name == "http.client.request.duration")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((_, _, tags, _) => Count(tags));
        _listener.Start();
    }

    private void Count(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        int? port = null;
        string? method = null;
        string? status = null;
        foreach (var tag in tags)
        {
            switch (tag.Key)
            {
                case "server.port": port = Convert.ToInt32(tag.Value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "http.request.method": method = tag.Value as string; break;
                case "http.response.status_code": status = tag.Value?.ToString(); break;
            }
        }

        var service = port == _blobPort ? "blob" : port == _queuePort ? "queue" : null;
        if (service is not null)
        {
            _counts.AddOrUpdate($"{service} {method} {status}", 1, (_, n) => n + 1);
        }
    }

    public int Total => _counts.Values.Sum();

    /// <summary>Per ticket, e.g. "6.02 (blob PUT 201 2.00, …)".</summary>
    public string PerTicket(int tickets) =>
        $"{(double)Total / tickets:F2} ({string.Join(", ", _counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {(double)c.Value / tickets:F2}"))})";

    public void Dispose() => _listener.Dispose();
}
