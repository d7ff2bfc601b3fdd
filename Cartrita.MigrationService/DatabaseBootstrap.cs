using Npgsql;

namespace Cartrita.MigrationService;

/// <summary>What the bootstrap changed (for the log and the trace).</summary>
public sealed record BootstrapResult(bool CreatedDatabase, IReadOnlyList<string> CreatedRoles, IReadOnlyList<string> CreatedExtensions);

/// <summary>
/// Everything only the server's superuser may do, done before the migrations run as <see cref="DatabaseRoles.Owner"/>:
/// the two roles (created, or brought back to their attributes and passwords), the database (created, owned by the
/// owner, TEMP revoked from PUBLIC), the extensions, the ownership of objects an older version created as the superuser,
/// the schema's privileges and the app role's default privileges, and the restore template
/// (<see cref="DatabaseRoles.TemplateDatabase"/>). Idempotent; several workers at once take turns on advisory locks.
/// </summary>
/// <param name="admin">The superuser's connection string (its database is ignored).</param>
/// <param name="database">The application database.</param>
/// <param name="ownerPassword">The owner's password; <see langword="null"/> keeps an existing role's.</param>
/// <param name="appPassword">The app role's password; <see langword="null"/> keeps an existing role's.</param>
/// <param name="logger">The worker's log.</param>
internal sealed class DatabaseBootstrap(NpgsqlConnectionStringBuilder admin, string database, string? ownerPassword, string? appPassword, ILogger logger)
{
    private const string MaintenanceDatabase = "postgres";

    /// <summary>
    /// Taken in the maintenance database around the cluster-wide steps (roles, databases, template): advisory locks are
    /// per database, so the per-database migration lock cannot serialize workers of different databases on one server.
    /// </summary>
    internal const long BootstrapLockKey = DatabaseMigrator.MigrationLockKey + 1;

    // Owner may create databases (a restore's scratch database, renamed in) and is a member of the app role, so that a
    // restore can end the app's sessions before the swap. Neither may do more than that.
    private const string OwnerAttributes = "LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT";
    private const string AppAttributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT";

    public async Task<BootstrapResult> RunAsync(CancellationToken cancellationToken)
    {
        var createdRoles = new List<string>();
        bool createdDatabase;
        await using (var cluster = await OpenAsync(MaintenanceDatabase, cancellationToken))
        {
            await LockAsync(cluster, BootstrapLockKey, "bootstrap", cancellationToken);
            if (await EnsureRoleAsync(cluster, DatabaseRoles.Owner, OwnerAttributes, ownerPassword, DatabaseRoles.OwnerPasswordVariable, cancellationToken))
            {
                createdRoles.Add(DatabaseRoles.Owner);
            }
            if (await EnsureRoleAsync(cluster, DatabaseRoles.App, AppAttributes, appPassword, DatabaseRoles.AppPasswordVariable, cancellationToken))
            {
                createdRoles.Add(DatabaseRoles.App);
            }
            await ExecuteAsync(cluster, $"GRANT {Quote(DatabaseRoles.App)} TO {Quote(DatabaseRoles.Owner)}", cancellationToken);
            createdDatabase = await EnsureDatabaseAsync(cluster, cancellationToken);
            await EnsureTemplateAsync(cluster, cancellationToken);
            // Closing the (unpooled) connection ends the session and its lock.
        }

        await using var target = await OpenAsync(database, cancellationToken);
        // The migrations' own lock: extensions and ownership change only between two workers' migrations, never during one.
        await LockAsync(target, DatabaseMigrator.MigrationLockKey, "migration", cancellationToken);
        var createdExtensions = await EnsureExtensionsAsync(target, cancellationToken);
        await AdoptObjectsAsync(target, cancellationToken);
        await ExecuteAsync(target, DatabasePrivileges.SchemaAndDefaults, cancellationToken);
        return new BootstrapResult(createdDatabase, createdRoles, createdExtensions);
    }

    /// <summary>Creates <paramref name="role"/> or resets its attributes (and its password, when one is given).</summary>
    /// <returns>Whether the role was created.</returns>
    private async Task<bool> EnsureRoleAsync(
        NpgsqlConnection connection, string role, string attributes, string? password, string passwordVariable, CancellationToken cancellationToken)
    {
        var exists = await ScalarAsync<bool>(connection, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", cancellationToken, role);
        if (!exists && password is null)
        {
            throw new InvalidOperationException(
                $"the role {role} does not exist and {passwordVariable} is not set: the migration worker needs its password to create it");
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var passwordClause = "";
        if (password is not null)
        {
            // The password travels as a bind parameter and is put into the statement inside the server: no statement text
            // the client sends (traces, pg_stat_activity, the server's statement log) ever holds it.
            await ScalarAsync<string>(connection, "SELECT set_config('cartrita.role_password', $1, true)", cancellationToken, password);
            passwordClause = " || ' PASSWORD ' || quote_literal(current_setting('cartrita.role_password'))";
        }
        var statement = $"format('{(exists ? "ALTER" : "CREATE")} ROLE %I WITH {attributes}', {Literal(role)}){passwordClause}";
        await ExecuteAsync(connection, $"DO $bootstrap$ BEGIN EXECUTE {statement}; END $bootstrap$", cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        if (!exists)
        {
            logger.LogInformation("Created role {Role}", role);
        }
        return !exists;
    }

    /// <summary>The database exists, belongs to the owner, and only the roles that need it may create temporary tables.</summary>
    /// <returns>Whether it was created.</returns>
    private async Task<bool> EnsureDatabaseAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var created = false;
        var currentOwner = await ScalarAsync<string?>(connection, "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1", cancellationToken, database);
        if (currentOwner is null)
        {
            try
            {
                await ExecuteAsync(connection, $"CREATE DATABASE {Quote(database)} OWNER {Quote(DatabaseRoles.Owner)}", cancellationToken);
                created = true;
                logger.LogInformation("Created database {Database} (it did not exist)", database);
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DuplicateDatabase or PostgresErrorCodes.UniqueViolation)
            {
                // Created at the same moment by something that does not take our lock (the postgres image, the AppHost).
                currentOwner = "";
            }
        }
        if (currentOwner is not null && currentOwner != DatabaseRoles.Owner)
        {
            await ExecuteAsync(connection, $"ALTER DATABASE {Quote(database)} OWNER TO {Quote(DatabaseRoles.Owner)}", cancellationToken);
            logger.LogInformation("Database {Database} now belongs to {Owner}", database, DatabaseRoles.Owner);
        }
        await ExecuteAsync(connection, DatabasePrivileges.Database(database), cancellationToken);
        return created;
    }

    /// <summary>
    /// The restore template: the extensions (a superuser's to create) and the app role's default privileges, cloned into
    /// every scratch database a restore creates as the owner. Closed to connections once prepared, so that cloning it
    /// never meets a session; a template still open was not finished and is prepared again.
    /// </summary>
    private async Task EnsureTemplateAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var template = DatabaseRoles.TemplateDatabase(database);
        var open = await ScalarAsync<bool?>(connection, "SELECT datallowconn FROM pg_database WHERE datname = $1", cancellationToken, template);
        if (open == false)
        {
            return;
        }
        if (open is null)
        {
            await ExecuteAsync(connection, $"CREATE DATABASE {Quote(template)} OWNER {Quote(DatabaseRoles.Owner)}", cancellationToken);
        }
        await using (var templateConnection = await OpenAsync(template, cancellationToken))
        {
            await EnsureExtensionsAsync(templateConnection, cancellationToken, log: false);
            await ExecuteAsync(templateConnection, DatabasePrivileges.SchemaAndDefaults, cancellationToken);
        }
        await ExecuteAsync(connection, $"ALTER DATABASE {Quote(template)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false", cancellationToken);
        logger.LogInformation("Prepared the restore template database {Template}", template);
    }

    private async Task<IReadOnlyList<string>> EnsureExtensionsAsync(NpgsqlConnection connection, CancellationToken cancellationToken, bool log = true)
    {
        var installed = await ScalarAsync<string[]>(connection, "SELECT coalesce(array_agg(extname::text), '{}') FROM pg_extension", cancellationToken);
        var missing = DatabaseMigrator.RequiredExtensions.Except(installed).ToList();
        foreach (var extension in missing)
        {
            await ExecuteAsync(connection, $"CREATE EXTENSION IF NOT EXISTS {Quote(extension)}", cancellationToken);
            if (log)
            {
                logger.LogInformation("Created extension {Extension}", extension);
            }
        }
        return missing;
    }

    /// <summary>
    /// Tables, views and sequences in <c>public</c> that another role created (a database migrated as the superuser
    /// before the roles existed) become the owner's, so that it can migrate, dump and restore them. Extension members and
    /// sequences owned by a column stay as they are: those follow their extension or table.
    /// </summary>
    private async Task AdoptObjectsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var statements = $"""
            SELECT format('ALTER %s %s OWNER TO %I',
                          CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                         WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                          c.oid::regclass, {Literal(DatabaseRoles.Owner)})
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public'
              AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
              AND c.relowner <> {Literal(DatabaseRoles.Owner)}::regrole
              AND NOT EXISTS (SELECT 1 FROM pg_depend d
                              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
            """;
        var adopted = await ScalarAsync<long>(connection, $"SELECT count(*) FROM ({statements}) AS s", cancellationToken);
        if (adopted == 0)
        {
            return;
        }
        // ALTER … OWNER is a utility statement, not something a query can run: a DO block executes each one.
        await ExecuteAsync(connection, $"DO $adopt$ DECLARE statement text; BEGIN FOR statement IN {statements} LOOP EXECUTE statement; END LOOP; END $adopt$",
            cancellationToken);
        logger.LogInformation("{Count} object(s) in {Database} created by another role now belong to {Owner}", adopted, database, DatabaseRoles.Owner);
    }

    private async Task<NpgsqlConnection> OpenAsync(string databaseName, CancellationToken cancellationToken)
    {
        // Unpooled: a pooled session would keep its advisory lock after Dispose, and would hold the template open.
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(admin.ConnectionString) { Database = databaseName, Pooling = false }.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    private async Task LockAsync(NpgsqlConnection connection, long key, string what, CancellationToken cancellationToken)
    {
        if (!await ScalarAsync<bool>(connection, $"SELECT pg_try_advisory_lock({key})", cancellationToken))
        {
            logger.LogInformation("Another migrator holds the {Lock} lock; waiting for it to finish", what);
            await ScalarAsync<object>(connection, $"SELECT pg_advisory_lock({key})", cancellationToken);
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 600 };
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params object[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 600 };
        foreach (var value in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }
        var result = await command.ExecuteScalarAsync(cancellationToken);
        return result is null or DBNull ? default! : (T)result;
    }

    internal static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string Literal(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";
}
