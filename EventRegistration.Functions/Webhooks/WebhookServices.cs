using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Webhooks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

// In the app's root namespace, like AddEventRegistration, so calling it needs no using.
namespace EventRegistration.Functions;

public static class WebhookServices
{
    /// <summary>The Razorpay webhook's handler, the inbox it owns, and their settings.</summary>
    public static IServiceCollection AddWebhooks(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddAppSettings<WebhookOptions>(configuration, WebhookOptions.Section);
        services.AddSingleton<WebhookInbox>();
        services.AddSingleton<WebhookHandler>();
        return services;
    }
}
