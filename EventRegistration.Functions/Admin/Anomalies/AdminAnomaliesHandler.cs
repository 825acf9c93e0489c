using Dapper;
using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Database;

namespace EventRegistration.Functions.Admin.Anomalies;

/// <summary>Open anomalies for operators, paged by id (keyset); resolving one records the note, who and when, audited.</summary>
public sealed class AdminAnomaliesHandler(Database database, TimeProvider clock)
{
    private const string Columns =
        "id, kind, event_id as EventId, registration_id as RegistrationId, payment_id as PaymentId, detail, created_at as CreatedAt, "
        + "resolved_at as ResolvedAt, resolved_by as ResolvedBy, resolution_note as ResolutionNote";

    private const string ListOpen = $"""
        select {Columns} from anomalies
         where resolved_at is null and id > @After
           and (@Kind::text is null or kind = @Kind) and (@EventId::uuid is null or event_id = @EventId)
         order by id
         limit @Limit
        """;

    private const string Lock = $"select {Columns} from anomalies where id = @Id for update";

    private const string Resolve = """
        update anomalies set resolved_at = @Now, resolved_by = @Actor, resolution_note = @Note where id = @Id
        """;

    public async Task<AnomalyPage> ListOpenAsync(string? kind, Guid? eventId, long after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        // One more than asked tells whether another page follows, without a count.
        var rows = (await connection.QueryAsync<AdminAnomaly>(new CommandDefinition(
            ListOpen, new { Kind = kind, EventId = eventId, After = after, Limit = limit + 1 }, cancellationToken: cancellationToken))).ToList();
        var page = rows.Take(limit).ToList();
        return new AnomalyPage(page, rows.Count > limit ? page[^1].Id : null);
    }

    public Task<ResolveAnomalyOutcome> ResolveAsync(AdminActor actor, long id, string note, CancellationToken cancellationToken) =>
        database.InTransactionAsync<ResolveAnomalyOutcome>("admin_resolve_anomaly", async (connection, transaction) =>
        {
            var now = clock.GetUtcNow();
            var before = await connection.QuerySingleOrDefaultAsync<AdminAnomaly>(Lock, new { Id = id }, transaction);
            if (before is null)
            {
                return new ResolveAnomalyOutcome.NotFound();
            }

            if (before.ResolvedAt is not null)
            {
                return new ResolveAnomalyOutcome.AlreadyResolved(before);
            }

            await connection.ExecuteAsync(Resolve, new { Id = id, Now = now.UtcDateTime, Actor = actor.Name, Note = note }, transaction);
            var after = await connection.QuerySingleAsync<AdminAnomaly>(Lock, new { Id = id }, transaction);
            await AdminAudit.RecordAsync(connection, transaction, actor, "anomaly.resolve", "anomaly:" + id, before, after, now);
            return new ResolveAnomalyOutcome.Resolved(after);
        }, cancellationToken);
}
