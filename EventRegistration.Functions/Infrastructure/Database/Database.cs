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
/// <see cref="DependencyUnavailableException"/> (answered 503) when it cannot finish.
/// </summary>
public sealed class Database(
    NpgsqlDataSource dataSource,
    IOptions<PostgresOptions> options,
    RegistrationMetrics metrics,
    ILogger<Database> logger) : IDisposable
{
    private const int MaxAttempts = 4;
    private readonly SemaphoreSlim _slots = new(options.Value.MaxConcurrentTransactions);
    private readonly PostgresOptions _options = options.Value;

    public NpgsqlDataSource DataSource => dataSource;

    /// <summary>
    /// Runs <paramref name="work"/> in a read-committed transaction and commits it. The work may
    /// run more than once (after a unique violation, a deadlock or a dropped connection), so it
    /// must do nothing outside the transaction.
    /// </summary>
    public async Task<T> InTransactionAsync<T>(
        string operation,
        Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work,
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
                NpgsqlConnection? opened = null;
                try
                {
                    await using var connection = opened = await dataSource.OpenConnectionAsync(cancellationToken);
                    await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                    await using (var setTimeout = new NpgsqlCommand(
                        $"set local lock_timeout = {_options.LockTimeoutMilliseconds}", connection, transaction))
                    {
                        await setTimeout.ExecuteNonQueryAsync(cancellationToken);
                    }

                    var result = await work(connection, transaction);
                    await transaction.CommitAsync(cancellationToken);
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
                    throw new DependencyUnavailableException("The record is busy; try again shortly.", retryAfterSeconds: 2, e);
                }
                catch (Exception e) when ((IsTransient(e) || IsBroken(opened)) && !cancellationToken.IsCancellationRequested)
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
                catch (Exception e) when (e is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DeadlockDetected })
                {
                    metrics.TransactionRolledBack(operation, "retries_exhausted");
                    throw new DependencyUnavailableException("The record is busy; try again shortly.", retryAfterSeconds: 1, e);
                }
            }
        }
        finally
        {
            _slots.Release();
        }
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
            NpgsqlConnection? opened = null;
            try
            {
                await using var connection = opened = await dataSource.OpenConnectionAsync(cancellationToken);
                return await work(connection);
            }
            catch (Exception e) when ((IsTransient(e) || IsBroken(opened)) && !cancellationToken.IsCancellationRequested)
            {
                if (attempt >= 2)
                {
                    logger.LogError(e, "Database unavailable in {Operation}", operation);
                    throw new DependencyUnavailableException("The database is unavailable; try again shortly.", retryAfterSeconds: 5, e);
                }

                logger.LogWarning(e, "Database connection failed in {Operation}; trying once more", operation);
                dataSource.Clear();
            }
        }
    }

    /// <summary>
    /// A connection the server or the network dropped mid-command. What is thrown then depends on
    /// where the reader was (an IOException, or "the reader is closed" from a result grid), so the
    /// connection's own state decides.
    /// </summary>
    private static bool IsBroken(NpgsqlConnection? connection) =>
        connection is not null && (connection.FullState.HasFlag(System.Data.ConnectionState.Broken) || connection.State == System.Data.ConnectionState.Closed);

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

    public void Dispose() => _slots.Dispose();
}

/// <summary>A dependency (database, storage, Razorpay) could not do its part now; the caller should retry.</summary>
public sealed class DependencyUnavailableException(string message, int retryAfterSeconds, Exception? inner = null)
    : Exception(message, inner)
{
    public int RetryAfterSeconds { get; } = retryAfterSeconds;
}
