using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Reconciliation;
using EventRegistration.Functions.WhatsAppWebhooks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

// In the app's root namespace, like AddEventRegistration, so calling it needs no using.
namespace EventRegistration.Functions;

public static class WhatsAppWebhookServices
{
    /// <summary>Meta's webhook (delivery statuses), the receipts it records, and their settings.</summary>
    public static IServiceCollection AddWhatsAppWebhook(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddAppSettings<WhatsAppWebhookOptions>(configuration, WhatsAppWebhookOptions.Section);
        services.AddSingleton<DeliveryReceipts>();
        services.AddSingleton<WhatsAppWebhookHandler>();
        services.AddSingleton<IReconciliationStep, WhatsAppInboxStep>();
        return services;
    }
}
