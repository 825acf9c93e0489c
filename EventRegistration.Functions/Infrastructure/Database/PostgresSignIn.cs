using Azure.Core;
using EventRegistration.Functions.Infrastructure.Configuration;
using Npgsql;

namespace EventRegistration.Functions.Infrastructure.Database;

/// <summary>
/// How the app signs in to PostgreSQL: the connection string's password (locally, unchanged), or,
/// with <c>Postgres__EntraAuthentication=true</c>, a Microsoft Entra access token of the Function
/// App's identity used as the password. Tokens live about an hour; Npgsql's periodic password
/// provider fetches a fresh one every <c>Postgres__TokenRefreshSeconds</c> and uses it for every
/// new physical connection (open ones are not affected: the server checks the token at sign-in only).
/// </summary>
public static class PostgresSignIn
{
    /// <summary>The DI key of the credential the tokens come from (the client factory's DefaultAzureCredential unless replaced).</summary>
    public const string CredentialKey = "Postgres";

    /// <summary>The audience Azure Database for PostgreSQL accepts tokens for.</summary>
    public const string Scope = "https://ossrdbms-aad.database.windows.net/.default";

    public static NpgsqlDataSource DataSource(PostgresOptions options, Func<TokenCredential> credential)
    {
        var builder = new NpgsqlDataSourceBuilder(options.ConnectionString);
        if (options.EntraAuthentication)
        {
            var tokens = credential();
            builder.UsePeriodicPasswordProvider(
                async (_, cancellationToken) => (await tokens.GetTokenAsync(new TokenRequestContext([Scope]), cancellationToken)).Token,
                TimeSpan.FromSeconds(options.TokenRefreshSeconds),
                TimeSpan.FromSeconds(Math.Min(options.TokenRefreshSeconds, 10)));
        }

        return builder.Build();
    }

    /// <summary>A token replaces the password: a password as well would be a secret left in the settings for nothing.</summary>
    public static bool PasswordFitsSignIn(PostgresOptions options)
    {
        if (!options.EntraAuthentication || options.ConnectionString.Length == 0)
        {
            return true;
        }

        try
        {
            return string.IsNullOrEmpty(new NpgsqlConnectionStringBuilder(options.ConnectionString).Password);
        }
        catch (ArgumentException)
        {
            return true;
        }
    }
}
