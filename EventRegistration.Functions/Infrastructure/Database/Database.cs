using System.Diagnostics;
using System.Net.Sockets;
using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace EventRegistration.Functions.Infrastructure.Database;

/// <summary>
/// The one way the app runs a PostgreSQL transaction: a bounded number at once, a short
/// lock_timeout, a rerun after a unique violation or a dropped connection, and a
/// <see cref="DependencyUnavailableException"/> (answered 503) when it cannot finish. The one
/// place database failures are classified: transient (retried here, then 503), refused
/// (<see cref="DatabaseRefusedException"/>: the data, never retried), anything else (a bug) as thrown.
/// </summary>
public sealed class Database(
    NpgsqlDataSource dataSource,
    IOptions<PostgresOptions> options,
    RegistrationMetrics metrics,
    TimeProvider clock,
    ILogger<Database> logger) : IDisposable
{
    private const int MaxAttempts = 4;

    /// <summary>When the work of the current async flow must be over (a monotonic timestamp), if a caller said so.</summary>
    private static readonly AsyncLocal<long?> Deadline = new();

    private readonly SemaphoreSlim _slots = new(options.Value.MaxConcurrentTransactions);
    private readonly PostgresOptions _options = options.Value;

    public NpgsqlDataSource DataSource => dataSource;

    /// <summary>
    /// Runs <paramref name="work"/> in a read-committed transaction and commits it. The work may
    /// run more than once (after a unique violation, a deadlock or a dropped connection), so it
    /// must do nothing outside the transaction.
    /// </summary>
    public Task<T> InTransactionAsync<T>(
        string operation,
        Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work,
        CancellationToken cancellationToken) =>
        InTransactionAsync(operation, async transaction =>
        {
            // The work's first command is not ours to extend, so the lock timeout costs a round trip of its own.
            await transaction.SetLockTimeoutAsync(cancellationToken);
            return await work(transaction.Connection, transaction.Transaction);
        }, cancellationToken);

    /// <summary>
    /// The same, for work that sends its statements in fewer round trips through
    /// <see cref="OpenTransaction"/>: its first batch carries the lock timeout, and its last batch
    /// may carry the COMMIT (then nothing is left to commit here). For a transaction that holds a
    /// contended lock (one hot event's row), each round trip saved is time the lock is not held.
    /// </summary>
    public async Task<T> InTransactionAsync<T>(
        string operation,
        Func<OpenTransaction, Task<T>> work,
        CancellationToken cancellationToken)
    {
        if (!await _slots.WaitAsync(_options.SlotWaitMilliseconds, cancellationToken))
        {
            metrics.TransactionRejected(operation);
            throw new DependencyUnavailableException("The database is busy; try again shortly.", retryAfterSeconds: 1);
        }

        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var started = Stopwatch.GetTimestamp();
                NpgsqlConnection? connection = null;
                try
                {
                    connection = await dataSource.OpenConnectionAsync(cancellationToken);
                    // Npgsql sends the BEGIN in front of the first command; nothing goes to the server here.
                    await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                    var open = new OpenTransaction(connection, transaction, LockTimeoutMilliseconds());
                    var result = await work(open);
                    if (!open.Committed)
                    {
                        await transaction.CommitAsync(cancellationToken);
                    }

                    metrics.TransactionCompleted(operation, Stopwatch.GetElapsedTime(started));
                    return result;
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation && attempt < MaxAttempts)
                {
                    // Another transaction committed the row we were about to write; the rerun reads it.
                    metrics.TransactionRolledBack(operation, "unique_violation");
                    metrics.UniqueViolation(operation, e.ConstraintName);
                    logger.LogInformation("Unique violation on {Constraint} in {Operation}; running the transaction again", e.ConstraintName, operation);
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DeadlockDetected && attempt < MaxAttempts)
                {
                    metrics.TransactionRolledBack(operation, "deadlock");
                    logger.LogWarning("Deadlock in {Operation}; running the transaction again", operation);
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
                {
                    metrics.TransactionRolledBack(operation, "lock_timeout");
                    logger.LogWarning("Lock timeout in {Operation}", operation);
                    throw new DependencyUnavailableException("The record is busy; try again shortly.", retryAfterSeconds: 2, e) { RowsBusy = true };
                }
                catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DeadlockDetected)
                {
                    metrics.TransactionRolledBack(operation, "retries_exhausted");
                    throw new DependencyUnavailableException("The record is busy; try again shortly.", retryAfterSeconds: 1, e) { RowsBusy = true };
                }
                catch (PostgresException e) when (IsRefusal(e, connection))
                {
                    metrics.TransactionRolledBack(operation, "refused");
                    logger.LogWarning("The database refused the data in {Operation}: {SqlState} {Constraint}", operation, e.SqlState, e.ConstraintName);
                    throw new DatabaseRefusedException(operation, e);
                }
                catch (Exception e) when (IsTransient(e, connection) && !cancellationToken.IsCancellationRequested)
                {
                    metrics.TransactionRolledBack(operation, "connection");
                    if (attempt >= 2)
                    {
                        logger.LogError(e, "Database unavailable in {Operation} after {Attempts} attempts", operation, attempt);
                        throw new DependencyUnavailableException("The database is unavailable; try again shortly.", retryAfterSeconds: 5, e);
                    }

                    logger.LogWarning(e, "Database connection failed in {Operation}; trying once more", operation);
                    dataSource.Clear();
                }
                finally
                {
                    // Disposed only here, after the filters above have looked at its state.
                    if (connection is not null)
                    {
                        await connection.DisposeAsync();
                    }
                }
            }
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>
    /// Bounds the transactions started in this async flow, until the scope is disposed, by a
    /// deadline <paramref name="budget"/> from now. A caller's cancellation token stops waits for a
    /// slot, a connection or a queue, but not a statement queued on a row lock (the work's commands
    /// do not all carry the token), so each transaction's <c>lock_timeout</c> is cut to the time left.
    /// </summary>
    public DeadlineScope WithDeadline(TimeSpan budget)
    {
        var previous = Deadline.Value;
        var deadline = clock.GetTimestamp() + (long)(budget.TotalSeconds * clock.TimestampFrequency);
        Deadline.Value = previous is { } earlier && earlier < deadline ? earlier : deadline;
        return new DeadlineScope(previous);
    }

    /// <summary>Whether this async flow runs under a <see cref="WithDeadline"/> scope.</summary>
    public bool HasDeadline => Deadline.Value is not null;

    /// <summary>Ends a <see cref="WithDeadline"/> scope, restoring the deadline that was there before.</summary>
    public readonly struct DeadlineScope(long? previous) : IDisposable
    {
        public void Dispose() => Deadline.Value = previous;
    }

    /// <summary>The configured lock timeout, or less when a deadline leaves less time than that.</summary>
    private int LockTimeoutMilliseconds()
    {
        if (Deadline.Value is not { } deadline)
        {
            return _options.LockTimeoutMilliseconds;
        }

        var left = (deadline - clock.GetTimestamp()) * 1000 / clock.TimestampFrequency;
        if (left <= 0)
        {
            throw new DependencyUnavailableException("No time is left to finish this request; try again shortly.", retryAfterSeconds: 1);
        }

        return (int)Math.Min(_options.LockTimeoutMilliseconds, left);
    }

    /// <summary>
    /// A short autocommit statement or query outside any transaction, with the same failure
    /// mapping. A dropped connection (a pool full of connections the server no longer knows,
    /// after a restart or failover) is tried once more on a fresh one, so the work must be
    /// safe to repeat: reads, and writes guarded by their own conditions.
    /// </summary>
    public async Task<T> RunAsync<T>(string operation, Func<NpgsqlConnection, Task<T>> work, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            NpgsqlConnection? connection = null;
            try
            {
                connection = await dataSource.OpenConnectionAsync(cancellationToken);
                return await work(connection);
            }
            catch (PostgresException e) when (IsRefusal(e, connection))
            {
                logger.LogWarning("The database refused the data in {Operation}: {SqlState} {Constraint}", operation, e.SqlState, e.ConstraintName);
                throw new DatabaseRefusedException(operation, e);
            }
            catch (Exception e) when (IsTransient(e, connection) && !cancellationToken.IsCancellationRequested)
            {
                if (attempt >= 2)
                {
                    logger.LogError(e, "Database unavailable in {Operation}", operation);
                    throw new DependencyUnavailableException("The database is unavailable; try again shortly.", retryAfterSeconds: 5, e);
                }

                logger.LogWarning(e, "Database connection failed in {Operation}; trying once more", operation);
                dataSource.Clear();
            }
            finally
            {
                if (connection is not null)
                {
                    await connection.DisposeAsync();
                }
            }
        }
    }

    /// <summary>
    /// Whether a failure may go away by itself (a dropped connection, a server restarting, a pool
    /// or server at its limit): decided by Npgsql's own transient flag, the SQLSTATE, and the
    /// state of the connection, asked while it is still open. A connection the server or the
    /// network dropped mid-command surfaces as whatever the reader was doing (an IOException,
    /// "the reader is closed" from a result grid), so its state decides, not the exception.
    /// Everything else the server answered is its answer: running it again changes nothing.
    /// </summary>
    internal static bool IsTransient(Exception e, NpgsqlConnection? connection) => IsTransient(e) || IsBroken(connection);

    /// <summary>The same judgement from the exception alone, for a caller whose connection is already gone.</summary>
    internal static bool IsTransient(Exception e) => e switch
    {
        PostgresException pg => pg.IsTransient
            || pg.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown
                or PostgresErrorCodes.CannotConnectNow or PostgresErrorCodes.TooManyConnections,
        NpgsqlException npgsql => npgsql.IsTransient || npgsql.InnerException is IOException or SocketException or TimeoutException,
        IOException or SocketException or TimeoutException => true,
        InvalidOperationException { Message: var m } when m.Contains("connection", StringComparison.OrdinalIgnoreCase) => true,
        _ => false,
    };

    /// <summary>
    /// The server refused the data it was given, on a connection that is still fine: a data
    /// exception (class 22: a byte it cannot store, a value out of range), an integrity constraint
    /// (class 23: a check, a foreign key, a not-null), or a value too large to index (54000).
    /// </summary>
    private static bool IsRefusal(PostgresException e, NpgsqlConnection? connection) =>
        (e.SqlState.StartsWith("22", StringComparison.Ordinal) || e.SqlState.StartsWith("23", StringComparison.Ordinal)
            || e.SqlState == PostgresErrorCodes.ProgramLimitExceeded)
        && !IsBroken(connection);

    /// <summary>Asked before the connection is disposed; a connection that was opened and is no longer open broke.</summary>
    private static bool IsBroken(NpgsqlConnection? connection) =>
        connection is not null && (connection.FullState.HasFlag(System.Data.ConnectionState.Broken) || connection.State == System.Data.ConnectionState.Closed);

    public void Dispose() => _slots.Dispose();
}

/// <summary>A dependency (database, storage, Razorpay) could not do its part now; the caller should retry.</summary>
public sealed class DependencyUnavailableException(string message, int retryAfterSeconds, Exception? inner = null)
    : Exception(message, inner)
{
    public int RetryAfterSeconds { get; } = retryAfterSeconds;

    /// <summary>
    /// The wait was for particular rows (a lock timeout, conflicts that outlasted the reruns), not
    /// for the database as a whole: work on other rows may go through at once.
    /// </summary>
    public bool RowsBusy { get; init; }
}

/// <summary>
/// The database answered and refused what it was given (a check or foreign key, a value it cannot
/// store): running it again gives the same answer, so it is never retried and is not an outage.
/// </summary>
public sealed class DatabaseRefusedException(string operation, PostgresException inner)
    : Exception($"The database refused the data in {operation}: {inner.SqlState} {inner.MessageText}", inner)
{
    public string SqlState { get; } = inner.SqlState;
    public string? Constraint { get; } = inner.ConstraintName;

    /// <summary>The server's primary message (the constraint or the kind of value); not its detail line, which quotes the whole row.</summary>
    public string ServerMessage { get; } = inner.MessageText;
}
