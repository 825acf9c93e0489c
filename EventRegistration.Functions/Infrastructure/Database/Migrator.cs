using System.Reflection;
using DbUp;
using DbUp.Engine.Output;
using DbUp.Postgresql;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace EventRegistration.Functions.Infrastructure.Database;

/// <summary>
/// Applies the embedded, versioned SQL scripts in name order. Scripts already applied (recorded
/// in <c>schemaversions</c>) are skipped, so running it twice changes nothing.
/// </summary>
public static class Migrator
{
    /// <summary>The scripts this build carries, named as DbUp records them in <c>schemaversions</c>.</summary>
    public static IReadOnlyList<string> EmbeddedScripts() =>
        Assembly.GetExecutingAssembly().GetManifestResourceNames().Where(IsMigration).Order(StringComparer.Ordinal).ToList();

    private static bool IsMigration(string name) => name.Contains(".Migrations.", StringComparison.Ordinal) && name.EndsWith(".sql", StringComparison.Ordinal);

    public static IReadOnlyList<string> Apply(string connectionString, ILogger? logger = null) =>
        Apply(DeployChanges.To.PostgresqlDatabase(connectionString), logger);

    /// <summary>Through a data source: the deploy hook's, which signs in with an Entra token (PostgresSignIn).</summary>
    public static IReadOnlyList<string> Apply(NpgsqlDataSource dataSource, ILogger? logger = null) =>
        Apply(DeployChanges.To.PostgresqlDatabase(new PostgresqlConnectionManager(dataSource)), logger);

    private static IReadOnlyList<string> Apply(DbUp.Builder.UpgradeEngineBuilder builder, ILogger? logger)
    {
        var upgrader = builder
            .WithScriptsEmbeddedInAssembly(Assembly.GetExecutingAssembly(), IsMigration)
            .WithTransactionPerScript()
            .LogTo(logger is null ? new NoOpUpgradeLog() : new LoggerUpgradeLog(logger))
            .Build();

        var result = upgrader.PerformUpgrade();
        if (!result.Successful)
        {
            throw new InvalidOperationException($"Migration {result.ErrorScript?.Name} failed: {result.Error.Message}", result.Error);
        }

        return result.Scripts.Select(s => s.Name).ToList();
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
