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

        // Run order: what needs only the database and the queue first — apply stored webhooks,
        // enqueue tickets whose message never reached the queue and re-enqueue stuck ones, audit the seat counts (each count moves in
        // the same transaction as its registration, so the audit is true at any point) — then what
        // asks Razorpay (the runner sorts on CallsRazorpay): orders, then refunds, which may be due
        // from this run's confirmations. A slow Razorpay then costs only its own steps.
        services.AddSingleton<IReconciliationStep, InboxStep>();
        services.AddSingleton<IReconciliationStep, DeliveriesStep>();
        services.AddSingleton<IReconciliationStep, AuditStep>();
        services.AddSingleton<IReconciliationStep, UndeliveredTicketsStep>();
        // Last of the database-only steps: reports the open anomalies for the alerts (AnomaliesStep).
        services.AddSingleton<IReconciliationStep, AnomaliesStep>();
        services.AddSingleton<IReconciliationStep, OrdersStep>();
        services.AddSingleton<IReconciliationStep, RefundsStep>();
        services.AddSingleton<ReconciliationRunner>();
        return services;
    }
}
