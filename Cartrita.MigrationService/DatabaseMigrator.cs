using System.Diagnostics;
using Cartrita.MigrationService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace Cartrita.MigrationService;

/// <summary>A migration that failed to apply, named.</summary>
public sealed class MigrationFailedException(string migration, Exception inner)
    : Exception($"migration '{migration}' failed: {inner.GetBaseException().Message}", inner)
{
    public string Migration { get; } = migration;
}

/// <summary>What a run changed: extensions it created and migrations it applied, in order. Both empty for a no-op.</summary>
public sealed record MigrationResult(IReadOnlyList<string> CreatedExtensions, IReadOnlyList<string> AppliedMigrations);

/// <summary>
/// Creates the extensions and applies pending EF Core migrations, inside the execution strategy and under a
/// PostgreSQL advisory lock, so that any number of workers started together (compose replicas, pod restarts) apply each
/// migration exactly once: the first takes the lock and migrates, the others wait, then find nothing to do.
/// </summary>
/// <remarks>
/// Everything runs on one connection that this class opens and holds: the session-level advisory lock, the extension
/// DDL, the history read and EF's own migrator (which reuses the open connection and, per migration, takes its
/// transaction-scoped <c>LOCK TABLE "__EFMigrationsHistory"</c>). A second worker blocks on the advisory lock before it
/// touches the history table, so the two locks are always taken in the same order and cannot deadlock.
/// </remarks>
/// <param name="dbContext">The context, connected as the role that owns the schema.</param>
/// <param name="logger">The worker's log.</param>
/// <param name="grantAppRole">
/// Whether the roles are managed (<see cref="DatabaseBootstrap"/> ran): then, still under the lock, the app role gets its
/// rights on what the migrations made (<see cref="DatabasePrivileges.Tables"/>).
/// </param>
internal sealed class DatabaseMigrator(CartritaDbContext dbContext, ILogger logger, bool grantAppRole = false)
{
    /// <summary>The extensions the schema needs; created before any migration because migrations use their types and functions.</summary>
    public static readonly IReadOnlyList<string> RequiredExtensions = ["vector", "uuid-ossp"];

    /// <summary>The <c>pg_advisory_lock</c> key ("Cartrita" in ASCII); advisory locks are per database. See SCHEMA.md.</summary>
    internal const long MigrationLockKey = 0x43617274726974;

    // Waiting for another worker's migrations and building indexes can take longer than the default 30 s command timeout.
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(10);

    public async Task<MigrationResult> MigrateAsync(CancellationToken cancellationToken)
    {
        // Migrator.MigrateAsync(target) skips EF's pending-model-changes check. It is not made here: building and diffing
        // the design-time model costs ~2.5 s of every start; ModelTests fails the build instead when a model change has no
        // migration.
        dbContext.Database.SetCommandTimeout(CommandTimeout);
        var strategy = dbContext.Database.CreateExecutionStrategy();
        return await strategy.ExecuteAsync(async ct =>
        {
            await dbContext.Database.OpenConnectionAsync(ct);
            try
            {
                await AcquireLockAsync(ct);
                try
                {
                    var createdExtensions = await EnsureExtensionsAsync(ct);
                    var appliedMigrations = await ApplyPendingMigrationsAsync(ct);
                    if (grantAppRole)
                    {
                        await GrantAppRoleAsync(ct);
                    }
                    return new MigrationResult(createdExtensions, appliedMigrations);
                }
                finally
                {
                    await ReleaseLockAsync();
                }
            }
            finally
            {
                await dbContext.Database.CloseConnectionAsync();
            }
        }, cancellationToken);
    }

    private async Task AcquireLockAsync(CancellationToken cancellationToken)
    {
        // Try first so that waiting (another worker is migrating) is visible in the log.
        var acquired = await ScalarAsync<bool>($"SELECT pg_try_advisory_lock({MigrationLockKey})", cancellationToken);
        if (!acquired)
        {
            logger.LogInformation("Another migrator holds the migration lock; waiting for it to finish");
            await ScalarAsync<object>($"SELECT pg_advisory_lock({MigrationLockKey})", cancellationToken);
        }
    }

    private async Task ReleaseLockAsync()
    {
        // Closing the connection only returns it to Npgsql's pool, where the session (and its lock) would live on until
        // the pool resets or closes it: unlock explicitly. If the connection is broken the server has dropped the lock.
        try
        {
            await ScalarAsync<bool>($"SELECT pg_advisory_unlock({MigrationLockKey})", CancellationToken.None);
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
        {
            logger.LogDebug(ex, "Could not release the migration lock explicitly; it ends with the session");
        }
    }

    private async Task<IReadOnlyList<string>> EnsureExtensionsAsync(CancellationToken cancellationToken)
    {
        var installed = await ScalarAsync<string[]>("SELECT coalesce(array_agg(extname::text), '{}') FROM pg_extension", cancellationToken);
        var missing = RequiredExtensions.Except(installed).ToList();
        var sqlHelper = dbContext.GetService<ISqlGenerationHelper>();
        foreach (var extension in missing)
        {
            // Not concurrency-safe on its own (two sessions can race on pg_extension), hence under the advisory lock.
            var createExtension = "CREATE EXTENSION IF NOT EXISTS " + sqlHelper.DelimitIdentifier(extension);
            await dbContext.Database.ExecuteSqlRawAsync(createExtension, cancellationToken);
            logger.LogInformation("Created extension {Extension}", extension);
        }

        if (missing.Count > 0)
        {
            // The connection's type cache predates the vector type when the extension was just created.
            await ((NpgsqlConnection)dbContext.Database.GetDbConnection()).ReloadTypesAsync(cancellationToken);
        }

        return missing;
    }

    private async Task<IReadOnlyList<string>> ApplyPendingMigrationsAsync(CancellationToken cancellationToken)
    {
        var applied = await GetAppliedMigrationsAsync(cancellationToken);
        var known = dbContext.Database.GetMigrations().ToList();

        var unknown = applied.Except(known).ToList();
        if (unknown.Count > 0)
        {
            logger.LogWarning(
                "The database has migrations this build does not contain ({Migrations}); was it migrated by a newer version?",
                string.Join(", ", unknown));
        }

        var pending = known.Except(applied).ToList();
        if (pending.Count == 0)
        {
            logger.LogInformation("Database is up to date; no migrations to apply ({Count} already applied)", applied.Count);
            return [];
        }

        logger.LogInformation("Applying {Count} migration(s): {Migrations}", pending.Count, string.Join(", ", pending));
        var migrator = dbContext.GetService<IMigrator>();
        foreach (var migration in pending)
        {
            using var activity = Worker.ActivitySource.StartActivity("Apply migration");
            activity?.SetTag("cartrita.migration", migration);
            var stopwatch = Stopwatch.StartNew();
            try
            {
                // One migration per call, each in its own transaction: a failure names the migration and leaves the
                // ones before it applied.
                await migrator.MigrateAsync(migration, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException && ex is not NpgsqlException { IsTransient: true })
            {
                // Transient errors stay unwrapped so the execution strategy can retry the whole run.
                activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
                throw new MigrationFailedException(migration, ex);
            }
            logger.LogInformation("Applied migration {Migration} in {ElapsedMs} ms", migration, stopwatch.ElapsedMilliseconds);
        }

        return pending;
    }

    private async Task GrantAppRoleAsync(CancellationToken cancellationToken)
    {
        // Concurrent GRANTs on one object fail with "tuple concurrently updated": this runs under the migration lock.
        await using var transaction = await dbContext.Database.BeginTransactionAsync(cancellationToken);
        await dbContext.Database.ExecuteSqlRawAsync(DatabasePrivileges.Tables(HistoryTable()), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        logger.LogInformation("Granted {Role} its rights on every table and sequence", DatabaseRoles.App);
    }

    private string HistoryTable()
    {
        var relational = RelationalOptionsExtension.Extract(dbContext.GetService<IDbContextOptions>());
        var table = relational.MigrationsHistoryTableName ?? HistoryRepository.DefaultTableName;
        return dbContext.GetService<ISqlGenerationHelper>().DelimitIdentifier(table, relational.MigrationsHistoryTableSchema);
    }

    /// <summary>
    /// The applied migration ids, creating the (empty) history table first on a fresh database. Npgsql's history
    /// repository reports the table as always existing and its migrator reads the history before creating the table,
    /// so on a fresh database EF would log a "Failed executing DbCommand" error (then carry on). Checking with
    /// <c>to_regclass</c> (which resolves the name through search_path like EF's unqualified queries) avoids that.
    /// </summary>
    private async Task<IReadOnlyList<string>> GetAppliedMigrationsAsync(CancellationToken cancellationToken)
    {
        var qualified = HistoryTable();
        var exists = await ScalarAsync<bool>("SELECT to_regclass($1) IS NOT NULL", cancellationToken, qualified);
        var historyRepository = dbContext.GetService<IHistoryRepository>();
        if (!exists)
        {
            await historyRepository.CreateIfNotExistsAsync(cancellationToken);
            logger.LogInformation("Created the migrations history table {Table}", qualified);
            return [];
        }

        var rows = await historyRepository.GetAppliedMigrationsAsync(cancellationToken);
        return rows.Select(row => row.MigrationId).ToList();
    }

    // A plain command on the context's open connection. EF's SqlQuery would compile a LINQ query for each of these
    // statements, ~0.1 s apiece when the process is cold, on every start of the stack.
    private async Task<T> ScalarAsync<T>(string sql, CancellationToken cancellationToken, params object[] parameters)
    {
        await using var command = (NpgsqlCommand)dbContext.Database.GetDbConnection().CreateCommand();
        command.CommandText = sql;
        command.CommandTimeout = (int)CommandTimeout.TotalSeconds;
        foreach (var value in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }
        return (T)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
