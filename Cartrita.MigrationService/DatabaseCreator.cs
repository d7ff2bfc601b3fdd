using Npgsql;

namespace Cartrita.MigrationService;

/// <summary>
/// Creates the target database when it does not exist. The postgres image creates one only on the first start of an
/// empty volume (POSTGRES_DB), and Kubernetes or a volume initialized before that setting never get one: the worker
/// connects to the <c>postgres</c> maintenance database with the same credentials and creates it.
/// </summary>
internal sealed class DatabaseCreator(ILogger logger)
{
    private const string MaintenanceDatabase = "postgres";

    /// <summary>Whether the database was created (<see langword="false"/>: it existed, or a concurrent worker made it).</summary>
    public async Task<bool> EnsureExistsAsync(NpgsqlConnectionStringBuilder target, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(target.Database) || target.Database == MaintenanceDatabase)
        {
            return false;
        }
        try
        {
            await using var probe = new NpgsqlConnection(target.ConnectionString);
            await probe.OpenAsync(cancellationToken);
            return false;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidCatalogName)
        {
            // 3D000: the server answers, the database is missing.
        }

        var maintenance = new NpgsqlConnectionStringBuilder(target.ConnectionString) { Database = MaintenanceDatabase, Pooling = false };
        await using var connection = new NpgsqlConnection(maintenance.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"CREATE DATABASE {Quote(target.Database)}", connection);
        try
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DuplicateDatabase or PostgresErrorCodes.UniqueViolation)
        {
            // Another worker created it between our probe and our CREATE (42P04, or 23505 when both inserted at once).
            logger.LogInformation("Database {Database} was created concurrently by another worker", target.Database);
            return false;
        }
        logger.LogInformation("Created database {Database} (it did not exist)", target.Database);
        return true;
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
