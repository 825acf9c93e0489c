using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.WhatsApp;
using EventRegistration.Functions.Reconciliation;
using EventRegistration.Functions.Tickets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;

// In the app's root namespace, beside AddEventRegistration, so that calling it there takes one line and no using.
namespace EventRegistration.Functions;

/// <summary>Ticket delivery's services: options, signing key, blobs and lease, WhatsApp client, handlers.</summary>
public static class TicketServices
{
    public static IServiceCollection AddTickets(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddAppSettings<WhatsAppOptions>(configuration, WhatsAppOptions.Section);
        services.AddAppSettings<TicketOptions>(configuration, TicketOptions.Section)
            .Validate(o => o.SigningKeyPem.Length == 0 || TicketSigner.IsValid(o.SigningKeyPem), "Tickets__SigningKeyPem must be an ECDSA P-256 private key in PEM (-----BEGIN PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY-----).")
            .Validate(o => o.PreviousPublicKeyPem.Length == 0 || TicketSigner.IsPublicKey(o.PreviousPublicKeyPem), "Tickets__PreviousPublicKeyPem must be an ECDSA P-256 public key in PEM (-----BEGIN PUBLIC KEY-----), or empty.")
            .Validate(o => o.EventTimeZone.Length == 0 || TimeZoneKnown(o.EventTimeZone), "Tickets__EventTimeZone must be a time zone id known to this machine (IANA, e.g. Asia/Kolkata).")
            .Validate(o => o.ResendUnfinishedAfterSeconds >= 2 * o.LeaseSeconds, "Tickets__ResendUnfinishedAfterSeconds must be at least twice Tickets__LeaseSeconds.")
            .Validate(o => o.RetryMaxDelaySeconds >= o.RetryBaseSeconds, "Tickets__RetryMaxDelaySeconds must be at least Tickets__RetryBaseSeconds.");

        services.AddSingleton<TicketSigner>();
        services.AddSingleton<TicketDeliveries>();
        services.AddSingleton<SendingHolds>();
        services.AddSingleton<TicketVerifier>();
        services.AddSingleton<TicketBlobs>();
        services.AddSingleton<TicketLocks>();
        services.AddSingleton<WhatsAppSendPace>();
        services.AddSingleton<IReconciliationStep, WhatsAppPaceStep>();

        services.AddHttpClient<WhatsAppClient>(WhatsAppClient.HttpClientName, (provider, http) =>
            {
                var options = provider.GetRequiredService<IOptions<WhatsAppOptions>>().Value;
                http.BaseAddress = new Uri(options.BaseUrl.EndsWith('/') ? options.BaseUrl : options.BaseUrl + "/");
                http.Timeout = Timeout.InfiniteTimeSpan;
            })
            .AddStandardResilienceHandler()
            .Configure(o =>
            {
                // Both calls are POSTs and the send has no idempotency key: a pipeline retry could
                // deliver a ticket twice. Retries happen through the queue, after the state machine
                // has recorded the attempt.
                o.Retry.DisableForUnsafeHttpMethods();
                var timeout = TimeSpan.FromSeconds(Math.Clamp(AppSettings.Unvalidated<WhatsAppOptions>(configuration, WhatsAppOptions.Section).TimeoutSeconds, 1, 60));
                o.AttemptTimeout.Timeout = timeout;
                o.TotalRequestTimeout.Timeout = timeout * 2;
                o.CircuitBreaker.SamplingDuration = TimeSpan.FromSeconds(Math.Max(30, 2 * timeout.TotalSeconds + 1));
            });

        // Transient, like the typed HttpClient it receives, so the client's handler rotation works.
        services.AddTransient<TicketDeliveryHandler>();
        services.AddSingleton<PoisonedTicketHandler>();
        services.AddEmailFallback(configuration);
        return services;
    }

    private static bool TimeZoneKnown(string id) => TimeZoneInfo.TryFindSystemTimeZoneById(id, out _);
}
