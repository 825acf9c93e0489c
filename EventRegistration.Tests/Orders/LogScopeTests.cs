using System.Collections.Concurrent;
using EventRegistration.Functions;
using EventRegistration.Functions.Orders;
using EventRegistration.Functions.Reconciliation;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Tests.Orders;

/// <summary>One payment followed across log lines: every line, whichever class writes it, carries the ids known at that point.</summary>
public sealed class LogScopeTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task Lines_logged_while_an_order_is_made_and_reconciled_carry_its_event_registration_order_and_run_ids()
    {
        var logs = new CapturedLogs();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(app.Settings()).Build();
        await using var services = new ServiceCollection()
            .AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information))
            .AddEventRegistration(configuration)
            .AddSingleton<TimeProvider>(app.Clock)
            .BuildServiceProvider();
        var eventId = await app.CreateEventAsync();
        var memberId = await app.CreateMemberAsync();

        // Razorpay refuses the order: its client's warning carries the event and the held registration.
        app.Razorpay.FailOrders(500);
        var refused = await CreateOrderAsync(services, eventId, memberId);
        Assert.Equal(503, refused.Status);
        var registrationId = await app.ScalarAsync<Guid>("select id from event_registrations where event_id = @eventId", new { eventId });
        var clientLine = logs.Single(e => e.Message.Contains("Razorpay POST v1/orders answered 500", StringComparison.Ordinal));
        Assert.Equal(eventId, clientLine.Scope["EventId"]);
        Assert.Equal(registrationId, clientLine.Scope["RegistrationId"]);

        app.Razorpay.Reset();
        var created = await CreateOrderAsync(services, eventId, memberId);
        Assert.Equal(201, created.Status);
        var orderId = created.Json.GetProperty("orderId").GetString()!;
        var createdLine = logs.Single(e => e.Message.StartsWith($"Order {orderId} created", StringComparison.Ordinal));
        Assert.Equal(registrationId, createdLine.Scope["RegistrationId"]);
        Assert.Equal(orderId, createdLine.Scope["OrderId"]);

        // The timer asks Razorpay about it and fails: the client's line carries the run, the registration and the order.
        app.Razorpay.Fail($"/v1/orders/{orderId}/payments", 500);
        app.AgeBeyondGrace();
        await ActivatorUtilities.CreateInstance<ReconcileFunction>(services).Reconcile(new TimerInfo(), CancellationToken.None);
        var reconcileLine = logs.First(e => e.Message.Contains($"Razorpay GET v1/orders/{orderId}/payments answered 500", StringComparison.Ordinal));
        Assert.Equal(registrationId, reconcileLine.Scope["RegistrationId"]);
        Assert.Equal(orderId, reconcileLine.Scope["OrderId"]);
        Assert.True(reconcileLine.Scope.ContainsKey("ReconciliationRunId"));
    }

    private static async Task<HttpAnswer> CreateOrderAsync(IServiceProvider services, Guid eventId, Guid memberId)
    {
        var request = TestApp.Request($$"""{"memberId":"{{memberId}}"}""");
        var result = await ActivatorUtilities.CreateInstance<CreateOrderFunction>(services).CreateOrder(request, eventId.ToString());
        return await TestApp.ExecuteAsync(request, result);
    }
}

public sealed record CapturedLog(string Category, LogLevel Level, string Message, IReadOnlyDictionary<string, object?> Scope);

/// <summary>A logging provider that keeps every line with the scope properties around it.</summary>
public sealed class CapturedLogs : ILoggerProvider, ISupportExternalScope, IEnumerable<CapturedLog>
{
    private readonly ConcurrentQueue<CapturedLog> _entries = new();
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public IEnumerator<CapturedLog> GetEnumerator() => _entries.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var scope = new Dictionary<string, object?>(StringComparer.Ordinal);
            owner._scopes.ForEachScope((value, properties) =>
            {
                if (value is IEnumerable<KeyValuePair<string, object?>> pairs)
                {
                    foreach (var (key, item) in pairs)
                    {
                        properties[key] = item;
                    }
                }
            }, scope);
            owner._entries.Enqueue(new CapturedLog(category, logLevel, formatter(state, exception), scope));
        }
    }
}
