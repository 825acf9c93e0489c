using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Infrastructure.Telemetry;

/// <summary>
/// The ids that let one payment be followed across log lines, as log scope properties with one
/// spelling each (the same names the message templates use). Begin a scope at a function's or a
/// handler's entry with what is known there, and another as soon as more is known (the order id
/// after the order is created, the payment id per payment); every line logged inside, by any
/// class, carries them (Application Insights: custom dimensions).
/// </summary>
public static class LogScopes
{
    public const string EventId = "EventId";
    public const string RegistrationId = "RegistrationId";
    public const string OrderId = "OrderId";
    public const string PaymentId = "PaymentId";
    public const string RefundId = "RefundId";
    public const string WebhookEventId = "WebhookEventId";
    public const string ReconciliationRunId = "ReconciliationRunId";

    /// <summary>A scope holding the ids given; null ones are left out.</summary>
    public static IDisposable? BeginPaymentScope(
        this ILogger logger,
        Guid? eventId = null,
        Guid? registrationId = null,
        string? orderId = null,
        string? paymentId = null,
        string? refundId = null,
        string? webhookEventId = null,
        long? reconciliationRunId = null)
    {
        var state = new List<KeyValuePair<string, object?>>(4);
        Add(state, EventId, eventId);
        Add(state, RegistrationId, registrationId);
        Add(state, OrderId, orderId);
        Add(state, PaymentId, paymentId);
        Add(state, RefundId, refundId);
        Add(state, WebhookEventId, webhookEventId);
        Add(state, ReconciliationRunId, reconciliationRunId);
        return state.Count == 0 ? null : logger.BeginScope(state);
    }

    private static void Add(List<KeyValuePair<string, object?>> state, string name, object? value)
    {
        if (value is not null)
        {
            state.Add(new KeyValuePair<string, object?>(name, value));
        }
    }
}
