using Azure.Core;
using Dapper;
using EventRegistration.Functions.Admin;
using EventRegistration.Functions.Confirmation;
using EventRegistration.Functions.Health;
using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Razorpay;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Infrastructure.Telemetry;
using EventRegistration.Functions.Orders;
using EventRegistration.Functions.Webhooks;
using Microsoft.Extensions.Azure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Npgsql;

namespace EventRegistration.Functions;

/// <summary>Every service of the app, registered once: Program.cs and the tests call this.</summary>
public static class EventRegistrationServices
{
    public static IServiceCollection AddEventRegistration(this IServiceCollection services, IConfiguration configuration)
    {
        DefaultTypeMap.MatchNamesWithUnderscores = true;

        services.AddAppSettings<PostgresOptions>(configuration, PostgresOptions.Section)
            .Validate(o => o.ConnectionString.Length == 0 || ConnectionStringParses(o.ConnectionString),
                "Postgres__ConnectionString is not a valid Npgsql connection string.")
            .Validate(PostgresSignIn.PasswordFitsSignIn,
                "Postgres__ConnectionString must hold no password when Postgres__EntraAuthentication is true (the token is the password).");
        services.AddAppSettings<StorageOptions>(configuration, StorageOptions.Section)
            .Configure(o => o.ConnectionString = configuration[StorageOptions.ConnectionSetting] ?? o.ConnectionString)
            .Validate(_ => StorageClients.IsConfigured(configuration),
                "AzureWebJobsStorage is required: a storage connection string, or AzureWebJobsStorage__accountName for the managed identity.");
        services.AddAppSettings<RazorpayOptions>(configuration, RazorpayOptions.Section)
            .Configure(o => o.WebhookSecrets = WebhookSecretSettings.Read(configuration))
            .ValidateAll(_ => WebhookSecretSettings.Problems(configuration));
        services.AddAppSettings<OrderOptions>(configuration, OrderOptions.Section);

        services.AddMetrics();
        services.AddSingleton<RegistrationMetrics>();
        services.AddSingleton(TimeProvider.System);

        services.AddKeyedSingleton(PostgresSignIn.CredentialKey, (provider, _) =>
            provider.GetRequiredService<AzureComponentFactory>().CreateTokenCredential(configuration.GetSection(PostgresOptions.Section)));
        services.AddSingleton(provider => PostgresSignIn.DataSource(provider.GetRequiredService<IOptions<PostgresOptions>>().Value,
            () => provider.GetRequiredKeyedService<TokenCredential>(PostgresSignIn.CredentialKey)));
        services.AddSingleton<Database>();
        services.AddAzureClientsCore();
        services.AddSingleton(provider => new StorageClients(provider.GetRequiredService<AzureComponentFactory>(), configuration));
        services.AddSingleton<TicketQueue>();

        services.AddHttpClient<RazorpayClient>(RazorpayClient.HttpClientName, (provider, http) =>
            {
                var options = provider.GetRequiredService<IOptions<RazorpayOptions>>().Value;
                http.BaseAddress = new Uri(options.BaseUrl.EndsWith('/') ? options.BaseUrl : options.BaseUrl + "/");
                http.Timeout = Timeout.InfiniteTimeSpan;
            })
            .AddStandardResilienceHandler()
            .Configure(o =>
            {
                // Order creation and refunds are POSTs: retried by the caller (or the timer) with the
                // same receipt or idempotency key, never blindly by the pipeline. GETs are retried
                // on 429, 5xx and timeouts with jittered backoff.
                o.Retry.DisableForUnsafeHttpMethods();
                o.Retry.MaxRetryAttempts = 2;
                o.Retry.Delay = TimeSpan.FromMilliseconds(300);
                o.Retry.UseJitter = true;
                var timeout = TimeSpan.FromSeconds(Math.Clamp(AppSettings.Unvalidated<RazorpayOptions>(configuration, RazorpayOptions.Section).TimeoutSeconds, 1, 60));
                o.AttemptTimeout.Timeout = timeout;
                o.TotalRequestTimeout.Timeout = timeout * 3;
                o.CircuitBreaker.SamplingDuration = TimeSpan.FromSeconds(Math.Max(30, 2 * timeout.TotalSeconds + 1));
            });

        services.AddSingleton<PaymentConfirmation>();
        services.AddSingleton<PaymentLedger>();
        services.AddSingleton<CreateOrderHandler>();
        services.AddSingleton<ConfirmCheckoutHandler>();
        services.AddSingleton<HealthCheck>();
        services.AddWebhooks(configuration);
        services.AddReconciliation(configuration);
        services.AddTickets(configuration);
        services.AddWhatsAppWebhook(configuration);
        services.AddAdmin(configuration);
        services.AddCheckins();

        return services;
    }

    private static bool ConnectionStringParses(string connectionString)
    {
        try
        {
            _ = new NpgsqlConnectionStringBuilder(connectionString);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
