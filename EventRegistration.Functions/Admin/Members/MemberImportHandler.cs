using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace EventRegistration.Functions.Admin.Members;

/// <summary>What an import came to. <see cref="Errors"/> lists the first <see cref="MemberImportHandler.MaxListedErrors"/> faulty rows; <see cref="Failed"/> counts them all.</summary>
public sealed record MemberImportResult(
    Guid ImportId, long Rows, long Inserted, long Updated, long Unchanged, long Failed, IReadOnlyList<ImportRowError> Errors, bool ErrorsTruncated);

/// <summary>The import is refused as a whole (too many rows): nothing of it is written.</summary>
public sealed class MemberImportRefusedException(ApiResult problem) : Exception("The import was refused.")
{
    public ApiResult Problem { get; } = problem;
}

/// <summary>
/// Writes an import file's members as its rows arrive, in batches, in ONE transaction: either the
/// whole file's good rows are written together with the audit row that counts them, or (a file
/// that turns out malformed or too large half-way, a failure) nothing is. Rows with faults are
/// skipped and reported; a member id seen earlier in the same file is such a fault, so each id is
/// written at most once per import and the counts say exactly what happened to each row.
/// </summary>
public sealed class MemberImportHandler(Database database, TimeProvider clock, ILogger<MemberImportHandler> logger)
{
    /// <summary>Rows per statement; see docs/benchmarks.md ("Member import") for the measurement behind it.</summary>
    public const int BatchSize = 1000;

    public const int MaxListedErrors = 1000;

    // A row whose values are all the same is left alone (no new row version, no update count);
    // xmax = 0 tells a fresh insert from an update of an existing member.
    internal const string UpsertSql = """
        with written as (
            insert into members as m (id, name, phone_e164, email)
            select * from unnest(@ids, @names, @phones, @emails)
            on conflict (id) do update
               set name = excluded.name, phone_e164 = excluded.phone_e164, email = excluded.email
             where (m.name, m.phone_e164, m.email) is distinct from (excluded.name, excluded.phone_e164, excluded.email)
            returning xmax = 0 as inserted
        )
        select count(*) filter (where inserted), count(*) filter (where not inserted) from written
        """;

    public Task<MemberImportResult> ImportAsync(
        AdminActor actor, IAsyncEnumerable<ImportRow> rows, ImportFormat format, int maxRows, CancellationToken cancellationToken)
    {
        var attempts = 0;
        return database.InTransactionAsync("admin_import_members", async (connection, transaction) =>
        {
            // The body is read inside the transaction and cannot be read twice: a failure the
            // database layer would run again (a deadlock with another import, a dropped
            // connection) ends this request instead; the client sends the file again.
            if (++attempts > 1)
            {
                throw new DependencyUnavailableException("The import was interrupted and nothing of it was written; send the file again.", retryAfterSeconds: 2);
            }

            var importId = Guid.NewGuid();
            long total = 0, inserted = 0, updated = 0, failed = 0;
            var errors = new List<ImportRowError>();
            var firstLine = new Dictionary<Guid, long>();
            var batch = new List<(Guid Id, MemberInput Member)>(BatchSize);

            void Fail(ImportRowError error)
            {
                failed++;
                if (errors.Count < MaxListedErrors)
                {
                    errors.Add(error);
                }
            }

            async Task FlushAsync()
            {
                var (i, u) = await WriteAsync(connection, transaction, batch, cancellationToken);
                inserted += i;
                updated += u;
                batch.Clear();
            }

            await foreach (var row in rows.WithCancellation(cancellationToken))
            {
                if (++total > maxRows)
                {
                    throw new MemberImportRefusedException(Problems.ImportTooManyRows(maxRows));
                }

                if (row.Error is { } error)
                {
                    Fail(error);
                }
                else if (!firstLine.TryAdd(row.Id, row.Line))
                {
                    Fail(new ImportRowError(row.Line, MemberRules.IdField,
                        $"This member id is already on line {firstLine[row.Id]} of the file; only that row is imported."));
                }
                else
                {
                    batch.Add((row.Id, row.Member!));
                    if (batch.Count == BatchSize)
                    {
                        await FlushAsync();
                    }
                }
            }

            if (batch.Count > 0)
            {
                await FlushAsync();
            }

            var unchanged = total - failed - inserted - updated;
            var result = new MemberImportResult(importId, total, inserted, updated, unchanged, failed, errors, failed > errors.Count);
            await AdminAudit.RecordAsync(connection, transaction, actor, "member.import", importId.ToString(), null,
                new { Format = format == ImportFormat.Csv ? "csv" : "ndjson", result.Rows, result.Inserted, result.Updated, result.Unchanged, result.Failed },
                clock.GetUtcNow());
            logger.LogInformation(
                "Member import {ImportId}: {Rows} rows, {Inserted} inserted, {Updated} updated, {Unchanged} unchanged, {Failed} failed",
                importId, total, inserted, updated, unchanged, failed);
            return result;
        }, cancellationToken);
    }

    private static async Task<(long Inserted, long Updated)> WriteAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<(Guid Id, MemberInput Member)> batch, CancellationToken cancellationToken)
    {
        // In id order, so two imports touching the same members lock them in the same order.
        batch.Sort((a, b) => a.Id.CompareTo(b.Id));
        await using var command = new NpgsqlCommand(UpsertSql, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<Guid[]>("ids", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { TypedValue = batch.Select(r => r.Id).ToArray() });
        command.Parameters.Add(new NpgsqlParameter<string[]>("names", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = batch.Select(r => r.Member.Name).ToArray() });
        command.Parameters.Add(new NpgsqlParameter<string[]>("phones", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = batch.Select(r => r.Member.PhoneE164).ToArray() });
        command.Parameters.Add(new NpgsqlParameter<string?[]>("emails", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = batch.Select(r => r.Member.Email).ToArray() });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }
}
