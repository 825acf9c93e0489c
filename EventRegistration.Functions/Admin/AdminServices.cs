using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Admin.Anomalies;
using EventRegistration.Functions.Admin.Attendees;
using EventRegistration.Functions.Admin.WebConsole;
using EventRegistration.Functions.Admin.Cancellation;
using EventRegistration.Functions.Admin.Events;
using EventRegistration.Functions.Admin.Lookup;
using EventRegistration.Functions.Admin.Members;
using EventRegistration.Functions.Admin.Refunds;
using EventRegistration.Functions.Admin.Resends;
using EventRegistration.Functions.Infrastructure.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace EventRegistration.Functions.Admin;

public static class AdminServices
{
    public static IServiceCollection AddAdmin(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddAppSettings<AdminOptions>(configuration, AdminOptions.Section)
            .ValidateAll(o =>
            {
                AdminAccess.ParseKeyHashes(o.KeyHashes, out var problems);
                return problems;
            });
        services.AddSingleton<AdminAccess>();
        services.AddSingleton<AdminEventsHandler>();
        services.AddSingleton<AdminAnomaliesHandler>();
        services.AddSingleton<RegistrationLookupHandler>();
        services.AddSingleton<MemberUpsertHandler>();
        services.AddSingleton<MemberImportHandler>();
        services.AddSingleton<AttendeesHandler>();
        services.AddSingleton<ScannerKeys.ScannerKeysHandler>();
        services.AddSingleton<Attendance.AttendanceHandler>();
        services.AddSingleton<ConsoleAssets>();
        services.AddSingleton<WhatsAppHold.SendingHoldHandler>();
        services.AddSingleton<CancelEventHandler>();
        services.AddSingleton<RefundRegistrationHandler>();
        services.AddSingleton<ResendTicketHandler>();
        return services;
    }
}
