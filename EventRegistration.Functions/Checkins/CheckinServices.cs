using EventRegistration.Functions.Checkins;
using Microsoft.Extensions.DependencyInjection;

// In the app's root namespace, beside AddEventRegistration, so that calling it there takes one line and no using.
namespace EventRegistration.Functions;

/// <summary>Door check-in's services: who may scan, the admission, the offline kit and batch.</summary>
public static class CheckinServices
{
    public static IServiceCollection AddCheckins(this IServiceCollection services)
    {
        services.AddSingleton<CheckinAccess>();
        services.AddSingleton<CheckinHandler>();
        services.AddSingleton<CheckinBatchHandler>();
        services.AddSingleton<OfflineKitHandler>();
        return services;
    }
}
