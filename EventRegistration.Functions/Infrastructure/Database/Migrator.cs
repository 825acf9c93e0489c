using System.Reflection;
using DbUp;
using DbUp.Engine.Output;
using DbUp.Postgresql;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace EventRegistration.Functions.Infrastructure.Database;

/// <summary>
/// Applies the embedded, versioned SQL scripts in name order. Scripts already applied (recorded
/// in <c>schemaversions</c>) are skipped, so running it twice changes nothing. Each script runs in
/// a transaction of its own, except one named <c>*.no_transaction.sql</c>: it runs statement by
/// statement, for what PostgreSQL refuses inside a transaction — <c>create index concurrently</c>,
/// which builds an index without blocking the writes of the code still serving during a deploy
/// (migrations run before the new code). Such a script must be safe to run again after failing
/// half-way, since nothing rolls it back.
/// </summary>
public static class Migrator
{
    /// <summary>The scripts this build carries, named as DbUp records them in <c>schemaversions</c>.</summary>
    public static IReadOnlyList<string> EmbeddedScripts() =>
        Assembly.GetExecutingAssembly().GetManifestResourceNames().Where(IsMigration).Order(StringComparer.Ordinal).ToList();

    private static bool IsMigration(string name) => name.Contains(".Migrations.", StringComparison.Ordinal) && name.EndsWith(".sql", StringComparison.Ordinal);

    private const string NoTransactionSuffix = ".no_transaction.sql";

    /// <summary>
    /// How long one statement of a <c>*.no_transaction.sql</c> script may run: a concurrent index
    /// build on a large table takes minutes and blocks no one meanwhile. The deploy hook gives the
    /// whole migration 15 minutes (infra/scripts/migrate.sh).
    /// </summary>
    private static readonly TimeSpan NoTransactionStatementTimeout = TimeSpan.FromMinutes(10);

    public static IReadOnlyList<string> Apply(string connectionString, ILogger? logger = null) =>
        Apply(() => DeployChanges.To.PostgresqlDatabase(connectionString), logger);

    /// <summary>Through a data source: the deploy hook's, which signs in with an Entra token (PostgresSignIn).</summary>
    public static IReadOnlyList<string> Apply(NpgsqlDataSource dataSource, ILogger? logger = null) =>
        Apply(() => DeployChanges.To.PostgresqlDatabase(new PostgresqlConnectionManager(dataSource)), logger);

    private static IReadOnlyList<string> Apply(Func<DbUp.Builder.UpgradeEngineBuilder> newBuilder, ILogger? logger)
    {
        // DbUp's transaction mode is one per engine, so each run of consecutive scripts of one mode
        // gets an engine of its own, in name order.
        var applied = new List<string>();
        foreach (var run in Runs(EmbeddedScripts()))
        {
            var names = run.Scripts.ToHashSet(StringComparer.Ordinal);
            var builder = newBuilder()
                .WithScriptsEmbeddedInAssembly(Assembly.GetExecutingAssembly(), names.Contains)
                .LogTo(logger is null ? new NoOpUpgradeLog() : new LoggerUpgradeLog(logger));
            builder = run.OutsideTransaction
                ? builder.WithoutTransaction().WithExecutionTimeout(NoTransactionStatementTimeout)
                : builder.WithTransactionPerScript();

            var result = builder.Build().PerformUpgrade();
            if (!result.Successful)
            {
                throw new InvalidOperationException($"Migration {result.ErrorScript?.Name} failed: {result.Error.Message}", result.Error);
            }

            applied.AddRange(result.Scripts.Select(s => s.Name));
        }

        return applied;
    }

    private static List<(bool OutsideTransaction, List<string> Scripts)> Runs(IReadOnlyList<string> scripts)
    {
        var runs = new List<(bool OutsideTransaction, List<string> Scripts)>();
        foreach (var script in scripts)
        {
            var outside = script.EndsWith(NoTransactionSuffix, StringComparison.Ordinal);
            if (runs.Count == 0 || runs[^1].OutsideTransaction != outside)
            {
                runs.Add((outside, []));
            }

            runs[^1].Scripts.Add(script);
        }

        return runs;
    }

    private sealed class NoOpUpgradeLog : IUpgradeLog
    {
        public void LogTrace(string format, params object[] args) { }
        public void LogDebug(string format, params object[] args) { }
        public void LogInformation(string format, params object[] args) { }
        public void LogWarning(string format, params object[] args) { }
        public void LogError(string format, params object[] args) { }
        public void LogError(Exception ex, string format, params object[] args) { }
    }

    private sealed class LoggerUpgradeLog(ILogger logger) : IUpgradeLog
    {
        public void LogTrace(string format, params object[] args) => logger.LogTrace(format, args);
        public void LogDebug(string format, params object[] args) => logger.LogDebug(format, args);
        public void LogInformation(string format, params object[] args) => logger.LogInformation(format, args);
        public void LogWarning(string format, params object[] args) => logger.LogWarning(format, args);
        public void LogError(string format, params object[] args) => logger.LogError(format, args);
        public void LogError(Exception ex, string format, params object[] args) => logger.LogError(ex, format, args);
    }
}
