using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.DependencyInjection;

namespace EventRegistration.Tests.Infrastructure;

/// <summary>One measurement an instrument of the app recorded, with its tags.</summary>
public sealed record Measured(string Instrument, long Value, IReadOnlyDictionary<string, object?> Tags)
{
    public string Tag(string key) => (string)Tags[key]!;
}

/// <summary>
/// What a test app's instruments record while this is alive: only the app's own meter (test classes
/// run side by side, each with its own), only the instruments <c>instruments</c> accepts.
/// </summary>
public sealed class RecordedMeasurements : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<Measured> _measured = new();

    public RecordedMeasurements(TestApp app, Func<string, bool> instruments)
    {
        var meter = app.Services.GetRequiredService<RegistrationMetrics>().Meter;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter) && instruments(instrument.Name))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Add(instrument, value, tags));
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(instrument, value, tags));
        _listener.Start();
    }

    public RecordedMeasurements(TestApp app, string instrument)
        : this(app, name => name == instrument)
    {
    }

    public IReadOnlyList<Measured> All => [.. _measured];

    /// <summary>The values <paramref name="instrument"/> recorded, in the order they came.</summary>
    public IReadOnlyList<long> Values(string instrument) => [.. _measured.Where(m => m.Instrument == instrument).Select(m => m.Value)];

    public void Dispose() => _listener.Dispose();

    private void Add(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
        _measured.Enqueue(new Measured(instrument.Name, value, new Dictionary<string, object?>(tags.ToArray())));
}
