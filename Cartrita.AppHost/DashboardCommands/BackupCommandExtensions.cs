using Cartrita.Operations.Backups;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Aspire.Hosting;

/// <summary>Dashboard commands on the PostgreSQL server: backup, restore and reset of Cartrita's database.</summary>
public static class BackupCommandExtensions
{
    /// <summary>
    /// Adds "Backup now", "Restore latest backup" and "Reset development database" to the dashboard menu of the server
    /// that hosts <paramref name="database"/>. Backups are gzip'd pg_dump files with their checksums in
    /// <see cref="BackupOptions.Directory"/> (the newest <see cref="BackupOptions.Keep"/> are kept), dumped and restored as
    /// <paramref name="owner"/>; a restore never leaves the live database half-restored. Only the reset (drop and create)
    /// and the restore's swap act as the superuser.
    /// </summary>
    /// <param name="database">The database (its parent server gets the commands).</param>
    /// <param name="options">Backup folder, retention and PostgreSQL client programs.</param>
    /// <param name="owner">The role that owns the database.</param>
    /// <param name="migrations">The migration worker, run after a reset.</param>
    /// <returns>The database builder.</returns>
    public static IResourceBuilder<IResourceWithConnectionString> WithBackupCommands(
        this IResourceBuilder<IResourceWithConnectionString> database, BackupOptions options, DatabaseRole owner, IResourceBuilder<IResource> migrations)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(migrations);
        var server = database.Resource is IResourceWithParent { Parent: var parent }
            ? database.ApplicationBuilder.CreateResourceBuilder(parent)
            : throw new ArgumentException($"'{database.Resource.Name}' is not a database inside a server.", nameof(database));

        var asOwner = database.ConnectionStringFor(owner);
        server.WithCommand("backup", "Backup now",
                context => RunAsync(context, database.Resource, asOwner, options, async (backups, connection, ct) =>
                {
                    var file = await backups.BackupAsync(connection.Owner, ct);
                    return $"Backup written: {file.Name} ({file.Length:N0} bytes)";
                }),
                new CommandOptions { Description = $"pg_dump '{database.Resource.Name}' into {options.Directory}, keeping the newest {options.Keep}.", IconName = "Save" })
            .WithCommand("restore-latest", "Restore latest backup",
                context => RunAsync(context, database.Resource, asOwner, options, async (backups, connection, ct) =>
                {
                    var latest = backups.List().FirstOrDefault()
                        ?? throw new OperationFailedException($"There is no backup in {options.Directory} yet: run \"Backup now\" first.");
                    await backups.RestoreAsync(connection.Owner, latest.FullName, connection.Admin, cancellationToken: ct);
                    return $"Restored {latest.Name}";
                }),
                new CommandOptions
                {
                    Description = "Replace the database with the newest backup (checksum and content verified, loaded aside first).",
                    ConfirmationMessage = $"Replace every row in '{database.Resource.Name}' with the newest backup?",
                    IconName = "History",
                })
            .WithResetDatabaseCommand(database.Resource, migrations.Resource);
        return database;
    }

    private static async Task<ExecuteCommandResult> RunAsync(
        ExecuteCommandContext context, IResourceWithConnectionString database, ReferenceExpression asOwner, BackupOptions options,
        Func<PostgresBackups, (string Owner, string Admin), CancellationToken, Task<string>> operation)
    {
        var logger = context.Services.GetRequiredService<ResourceLoggerService>().GetLogger(context.ResourceName);
        try
        {
            var backups = new PostgresBackups(options, message => logger.LogInformation("{Message}", message));
            var admin = await database.GetConnectionStringAsync(context.CancellationToken)
                ?? throw new OperationFailedException($"'{database.Name}' has no connection string yet; wait until it is healthy.");
            var owner = await asOwner.GetValueAsync(context.CancellationToken)
                ?? throw new OperationFailedException($"'{database.Name}' has no connection string yet; wait until it is healthy.");
            var message = await operation(backups, (owner, admin), context.CancellationToken);
            logger.LogInformation("{Message}", message);
            return CommandResults.Success(message);
        }
        catch (OperationFailedException ex)
        {
            logger.LogError("{Message}", ex.Message);
            return CommandResults.Failure(ex.Message);
        }
    }
}
