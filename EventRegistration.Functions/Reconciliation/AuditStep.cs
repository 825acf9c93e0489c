using Dapper;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// Step 6: each event's attendee_count against its paid registrations (invariant 3). The counter
/// and the registrations change in one transaction, so one statement's snapshot never sees half
/// a confirmation: any difference is real drift. It is recorded as a <c>count_drift</c> anomaly
/// once per distinct drift (not every run) and counted in a metric every run while it lasts; the
/// counter is never rewritten: an operator decides which side is wrong.
/// </summary>
public sealed class AuditStep(
    Database database,
    RegistrationMetrics metrics,
    IOptions<ReconciliationOptions> options,
    TimeProvider clock,
    ILogger<AuditStep> logger) : IReconciliationStep
{
    private const string FindDrift = """
        select e.id, e.attendee_count, count(r.id) filter (where r.status = 'paid') as paid
          from events e left join event_registrations r on r.event_id = e.id
         group by e.id
        having e.attendee_count <> count(r.id) filter (where r.status = 'paid')
         order by e.id
         limit @Limit
        """;

    public string Name => "audit";

    public async Task RunAsync(StepTally tally, CancellationToken cancellationToken)
    {
        var drifts = await database.RunAsync("reconcile_audit", async connection =>
            (await connection.QueryAsync<(Guid EventId, int AttendeeCount, long Paid)>(FindDrift, new { Limit = options.Value.BatchSize })).ToList(),
            cancellationToken);

        foreach (var (eventId, attendeeCount, paid) in drifts)
        {
            var detail = $"attendee_count is {attendeeCount} but {paid} registrations are paid (difference {attendeeCount - paid:+0;-0})";
            var isNew = await database.RunAsync("reconcile_audit_record", connection => AnomalyLog.RecordOnceAsync(connection, null,
                new Anomaly(AnomalyKind.CountDrift, detail, eventId), clock.GetUtcNow().UtcDateTime), cancellationToken);
            metrics.CountDrift(isNew);
            tally.Add("drifting");
            if (isNew)
            {
                tally.Add("new_anomalies");
                logger.LogError("Event {EventId} count drift: attendee_count {AttendeeCount}, paid registrations {Paid}; recorded for an operator",
                    eventId, attendeeCount, paid);
            }
        }
    }
}
