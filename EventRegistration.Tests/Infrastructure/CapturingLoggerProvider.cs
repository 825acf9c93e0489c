using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Tests.Infrastructure;

/// <summary>
/// A logging provider that keeps, for every line at every level, all the text a sink could store:
/// the formatted message, each structured state value, each scope (its text and its values) and
/// the exception with its inner ones. What a test searches here is what Application Insights would hold.
/// </summary>
public sealed class CapturingLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    private readonly ConcurrentQueue<CapturedLine> _lines = new();
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public IReadOnlyCollection<CapturedLine> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private static IEnumerable<string> Texts(object? value)
    {
        if (value is null)
        {
            yield break;
        }

        yield return Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
        if (value is IEnumerable<KeyValuePair<string, object?>> pairs)
        {
            foreach (var (key, item) in pairs)
            {
                yield return key;
                yield return Convert.ToString(item, System.Globalization.CultureInfo.InvariantCulture) ?? "";
            }
        }
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var texts = new List<string> { formatter(state, exception) };
            texts.AddRange(Texts(state));
            owner._scopes.ForEachScope((scope, list) => list.AddRange(Texts(scope)), texts);
            if (exception is not null)
            {
                texts.Add(exception.ToString());
            }

            owner._lines.Enqueue(new CapturedLine(category, logLevel, texts[0], texts));
        }
    }
}

/// <summary>One logged line: its message and every text that travels with it.</summary>
public sealed record CapturedLine(string Category, LogLevel Level, string Message, IReadOnlyList<string> Texts);
