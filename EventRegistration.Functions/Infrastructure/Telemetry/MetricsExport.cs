using Azure.Monitor.OpenTelemetry.Exporter;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace EventRegistration.Functions.Infrastructure.Telemetry;

/// <summary>
/// Sends the <c>EventRegistration</c> meter to Azure Monitor when the app has an Application
/// Insights connection string (the worker SDK that carries logs and requests does not collect
/// custom meters). Without one, for example locally, nothing is exported.
/// </summary>
public static class MetricsExport
{
    public const string ConnectionStringSetting = "APPLICATIONINSIGHTS_CONNECTION_STRING";

    public static IServiceCollection AddEventRegistrationMetricsExport(this IServiceCollection services, IConfiguration configuration)
    {
        var connectionString = configuration[ConnectionStringSetting];
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return services;
        }

        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(RegistrationMetrics.MeterName)
            .AddAzureMonitorMetricExporter(o => o.ConnectionString = connectionString));
        return services;
    }
}
