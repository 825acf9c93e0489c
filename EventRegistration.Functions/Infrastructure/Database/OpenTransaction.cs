using System.Globalization;
using Dapper;
using Npgsql;

namespace EventRegistration.Functions.Infrastructure.Database;

/// <summary>
/// A transaction <see cref="Database"/> has begun and will end, handed to the work so it can send
/// its statements in as few round trips as they allow. The lock timeout and the end of the
/// transaction stay <see cref="Database"/>'s policy: the work opens with <see cref="QueryFirstAsync"/>,
/// which puts the timeout in front of the work's first statements, and may close with
/// <see cref="QuerySingleAndCommitAsync{T}"/>, which puts the COMMIT behind its last ones.
/// </summary>
/// <remarks>
/// Npgsql sends a multi-statement command as one pipeline with a single Sync at its end
/// (<c>NpgsqlCommand.EnableErrorBarriers</c> is off), so a statement that fails makes the server skip
/// the rest, the COMMIT included, and leaves the transaction aborted for <see cref="Database"/> to
/// roll back and classify as any other failure. When the COMMIT runs, the ReadyForQuery after it says
/// the session is idle and Npgsql marks its <see cref="NpgsqlTransaction"/> completed: disposing it
/// rolls nothing back, and <c>CommitAsync</c> would throw, which is why <see cref="Committed"/> tells
/// <see cref="Database"/> not to call it.
/// </remarks>
public sealed class OpenTransaction
{
    /// <summary>Transaction-local, like <c>set local</c>; a parameter, so the statement's text stays the same for every timeout.</summary>
    private const string SetLockTimeout = "select set_config('lock_timeout', @DatabaseLockTimeout, true);\n";

    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlTransaction _transaction;
    private readonly string _lockTimeout;
    private Stage _stage = Stage.Begun;

    internal OpenTransaction(NpgsqlConnection connection, NpgsqlTransaction transaction, int lockTimeoutMilliseconds)
    {
        _connection = connection;
        _transaction = transaction;
        _lockTimeout = lockTimeoutMilliseconds.ToString(CultureInfo.InvariantCulture);
    }

    private enum Stage
    {
        Begun,
        Running,
        Committed,
    }

    /// <summary>The connection, once the lock timeout is set and until the transaction is committed.</summary>
    public NpgsqlConnection Connection => _stage == Stage.Running ? _connection : throw NotRunning();

    /// <summary>The transaction for the work's commands, under the same condition as <see cref="Connection"/>.</summary>
    public NpgsqlTransaction Transaction => _stage == Stage.Running ? _transaction : throw NotRunning();

    /// <summary>Whether the work's last batch committed the transaction.</summary>
    internal bool Committed => _stage == Stage.Committed;

    /// <summary>For work that cannot open with <see cref="QueryFirstAsync"/>: the lock timeout in a round trip of its own.</summary>
    internal async Task SetLockTimeoutAsync(CancellationToken cancellationToken)
    {
        Expect(Stage.Begun);
        await using var command = new NpgsqlCommand(SetLockTimeout, _connection, _transaction);
        command.Parameters.AddWithValue("DatabaseLockTimeout", _lockTimeout);
        await command.ExecuteNonQueryAsync(cancellationToken);
        _stage = Stage.Running;
    }

    /// <summary>
    /// The work's first round trip: <paramref name="sql"/> with the lock timeout set in front of it,
    /// before any of its statements can wait for a lock. The grids are the work's, in order.
    /// </summary>
    public async Task<SqlMapper.GridReader> QueryFirstAsync(string sql, object parameters)
    {
        Expect(Stage.Begun);
        var withTimeout = new DynamicParameters(parameters);
        withTimeout.Add("DatabaseLockTimeout", _lockTimeout);
        var grid = await _connection.QueryMultipleAsync(SetLockTimeout + sql, withTimeout, _transaction);
        _stage = Stage.Running;
        await grid.ReadSingleAsync<string>();
        return grid;
    }

    /// <summary>
    /// The work's last round trip: <paramref name="sql"/> and the COMMIT behind it, so the server
    /// ends the transaction (and lets go of its locks) as soon as the statements are done, without
    /// waiting for the app to ask. Returns the first row of the first result set.
    /// </summary>
    /// <remarks>
    /// Once sent, the COMMIT is the server's to run: only a failing statement stops it. Everything
    /// the transaction must not commit without is decided before this call or enforced by the
    /// statements themselves. A connection lost before the answer came is an unknown outcome, the
    /// same as a lost answer to <c>CommitAsync</c>: <see cref="Database"/> runs the work again, which
    /// reads what was committed.
    /// </remarks>
    public async Task<T> QuerySingleAndCommitAsync<T>(string sql, object parameters)
    {
        Expect(Stage.Running);
        T row;
        await using (var reader = await _connection.ExecuteReaderAsync(sql + ";\ncommit", parameters, _transaction))
        {
            var parse = reader.GetRowParser<T>();
            var found = await reader.ReadAsync();
            row = found ? parse(reader) : default!;

            // Past the last statement Npgsql reads the ReadyForQuery that follows the COMMIT: when this
            // returns false without throwing, the transaction is committed.
            while (await reader.NextResultAsync())
            {
            }

            _stage = Stage.Committed;
            if (!found)
            {
                throw new InvalidOperationException("The transaction's last batch committed without the row its first statement returns.");
            }
        }

        return row;
    }

    private void Expect(Stage stage)
    {
        if (_stage != stage)
        {
            throw new InvalidOperationException($"The transaction is {_stage}, not {stage}: it opens with QueryFirstAsync and ends with at most one QuerySingleAndCommitAsync.");
        }
    }

    private InvalidOperationException NotRunning() =>
        new(_stage == Stage.Begun
            ? "The transaction's first statements go through QueryFirstAsync, which sets its lock timeout."
            : "The transaction is committed; nothing more can run in it.");
}
