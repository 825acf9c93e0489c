using Azure.Core;
using Azure.Identity;
using Azure.Monitor.OpenTelemetry.Exporter;
using Microsoft.ApplicationInsights.Extensibility;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace EventRegistration.Functions.Infrastructure.Telemetry;

/// <summary>
/// Sends the <c>EventRegistration</c> meter to Azure Monitor when the app has an Application
/// Insights connection string (the worker SDK that carries logs and requests does not collect
/// custom meters). Without one, for example locally, nothing is exported. In Azure the component
/// refuses key-based ingestion (infra: <c>DisableLocalAuth</c>), so telemetry is sent with a token
/// of the identity named by <c>APPLICATIONINSIGHTS_AUTHENTICATION_STRING</c> — the setting the
/// Functions host reads for its own telemetry — by this exporter and by the worker's SDK alike.
/// </summary>
public static class MetricsExport
{
    public const string ConnectionStringSetting = "APPLICATIONINSIGHTS_CONNECTION_STRING";
    public const string AuthenticationStringSetting = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING";

    /// <summary>The exporter's named options (AzureMonitorExporterOptions), so they can be read back.</summary>
    public const string ExporterName = "EventRegistration";

    public static IServiceCollection AddEventRegistrationMetricsExport(this IServiceCollection services, IConfiguration configuration)
    {
        var connectionString = configuration[ConnectionStringSetting];
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return services;
        }

        var credential = Credential(configuration[AuthenticationStringSetting]);
        if (credential is not null)
        {
            services.Configure<TelemetryConfiguration>(c => c.SetAzureTokenCredential(credential));
        }

        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(RegistrationMetrics.MeterName)
            .AddAzureMonitorMetricExporter(
                o =>
                {
                    o.ConnectionString = connectionString;
                    o.Credential = credential;
                },
                name: ExporterName));
        return services;
    }

    /// <summary>
    /// The identity of an authentication string in the host's format: <c>Authorization=AAD</c> for
    /// the system-assigned identity, plus <c>ClientId=…</c> for a user-assigned one. Null when
    /// telemetry is not Entra-authenticated (no setting, or another scheme).
    /// </summary>
    public static TokenCredential? Credential(string? authenticationString)
    {
        var parts = (authenticationString ?? "")
            .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(part => part.Split('=', 2, StringSplitOptions.TrimEntries))
            .Where(pair => pair.Length == 2)
            .GroupBy(pair => pair[0], StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.Last()[1], StringComparer.OrdinalIgnoreCase);
        if (!parts.TryGetValue("Authorization", out var scheme) || !scheme.Equals("AAD", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        return parts.TryGetValue("ClientId", out var clientId) && clientId.Length > 0
            ? new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId))
            : new ManagedIdentityCredential(ManagedIdentityId.SystemAssigned);
    }
}
