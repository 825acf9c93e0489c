using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Reconciliation;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

// In the app's root namespace, like AddEventRegistration, so calling it needs no using.
namespace EventRegistration.Functions;

public static class ReconciliationServices
{
    /// <summary>The reconciliation timer's handler, its steps (in run order) and its settings.</summary>
    public static IServiceCollection AddReconciliation(this IServiceCollection services, IConfiguration configuration)
    {
        // No default for the schedule: the Functions host resolves %ReconciliationSchedule% from the app
        // settings, not from this app, so without the setting the timer would never fire.
        services.AddAppSettings<ReconciliationOptions>(configuration, ReconciliationOptions.Section)
            .Configure(o => o.Schedule = configuration[ReconciliationOptions.ScheduleSetting] ?? "")
            .Validate(o => o.Schedule.Length == 0 || ReconciliationOptions.IsValidSchedule(o.Schedule), ReconciliationOptions.ScheduleMessage)
            .Validate(o => o.Schedule.Length > 0, ReconciliationOptions.ScheduleMissingMessage);

        // Order matters: dispatch what is committed, apply stored webhooks, then ask Razorpay, then
        // refunds, stuck tickets, and the audit last so it sees what the others repaired.
        services.AddSingleton<IReconciliationStep, OutboxStep>();
        services.AddSingleton<IReconciliationStep, InboxStep>();
        services.AddSingleton<IReconciliationStep, OrdersStep>();
        services.AddSingleton<IReconciliationStep, RefundsStep>();
        services.AddSingleton<IReconciliationStep, DeliveriesStep>();
        services.AddSingleton<IReconciliationStep, AuditStep>();
        services.AddSingleton<ReconciliationRunner>();
        return services;
    }
}
