using Cartrita.MigrationService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql;

namespace Cartrita.MigrationService;

/// <summary>A migration that failed to apply, named.</summary>
public sealed class MigrationFailedException(string migration, Exception inner)
    : Exception($"migration '{migration}' failed: {inner.GetBaseException().Message}", inner);

/// <summary>
/// Creates the extensions and applies pending EF Core migrations, inside the execution strategy and under a
/// PostgreSQL advisory lock so that any number of workers started together (compose replicas, pod restarts) apply each
/// migration exactly once: the first takes the lock and migrates, the others wait, then find nothing to do.
/// </summary>
internal sealed class DatabaseMigrator(CartritaDbContext dbContext, ILogger logger)
{
    // An arbitrary application-wide key for pg_advisory_lock ("Cartrita" in ASCII).
    private const long MigrationLockKey = 0x43617274726974;

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        var strategy = dbContext.Database.CreateExecutionStrategy();
        await strategy.ExecuteAsync(async () =>
        {
            await dbContext.Database.OpenConnectionAsync(cancellationToken);
            try
            {
                await dbContext.Database.ExecuteSqlAsync($"SELECT pg_advisory_lock({MigrationLockKey})", cancellationToken);
                await EnsureExtensionsAsync(cancellationToken);
                await ApplyPendingMigrationsAsync(cancellationToken);
            }
            finally
            {
                await dbContext.Database.CloseConnectionAsync();
            }
        });
    }

    private async Task EnsureExtensionsAsync(CancellationToken cancellationToken)
    {
        // Extensions first: migrations declare vector columns. Both are idempotent.
        await dbContext.Database.ExecuteSqlRawAsync("CREATE EXTENSION IF NOT EXISTS vector", cancellationToken);
        await dbContext.Database.ExecuteSqlRawAsync("CREATE EXTENSION IF NOT EXISTS \"uuid-ossp\"", cancellationToken);
        // The connection's type cache predates the vector type when the extension was just created.
        await ((NpgsqlConnection)dbContext.Database.GetDbConnection()).ReloadTypesAsync(cancellationToken);
    }

    private async Task ApplyPendingMigrationsAsync(CancellationToken cancellationToken)
    {
        var pending = (await dbContext.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        if (pending.Count == 0)
        {
            logger.LogInformation("Database is up to date; no migrations to apply");
            return;
        }

        var migrator = dbContext.GetService<IMigrator>();
        foreach (var migration in pending)
        {
            try
            {
                await migrator.MigrateAsync(migration, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new MigrationFailedException(migration, ex);
            }
            logger.LogInformation("Applied migration {Migration}", migration);
        }
    }
}
