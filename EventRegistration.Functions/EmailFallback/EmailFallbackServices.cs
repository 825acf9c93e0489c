using EventRegistration.Functions.EmailFallback;
using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Reconciliation;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

// In the app's root namespace, like AddEventRegistration, so calling it needs no using.
namespace EventRegistration.Functions;

public static class EmailFallbackServices
{
    /// <summary>The e-mail fallback of undeliverable tickets: its settings, state, SMTP client, handler and reconciliation step.</summary>
    public static IServiceCollection AddEmailFallback(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddAppSettings<EmailFallbackOptions>(configuration, EmailFallbackOptions.Section)
            .ValidateAll(o => o.Problems());
        services.AddSingleton<TicketEmailFallbacks>();
        services.AddSingleton<TicketMailer>();
        services.AddSingleton<TicketEmailHandler>();
        services.AddSingleton<IReconciliationStep, EmailFallbacksStep>();
        return services;
    }
}
