using Cartrita.Operations.Backups;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Aspire.Hosting;

/// <summary>Dashboard commands on the migration worker: run it again, or rebuild the development database from scratch.</summary>
public static class MigrationCommandExtensions
{
    private static readonly TimeSpan MigrationTimeout = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Adds "Run migrations again" (starts the finished worker and reports its outcome) and "Reset development database"
    /// (drops and recreates <paramref name="database"/>, then migrates; refused unless the AppHost environment is
    /// Development) to the migration worker's dashboard menu.
    /// </summary>
    /// <typeparam name="T">The migration worker's resource type.</typeparam>
    /// <param name="builder">The migration worker.</param>
    /// <param name="database">The database it migrates.</param>
    /// <returns>The migration worker's builder.</returns>
    public static IResourceBuilder<T> WithMigrationCommands<T>(
        this IResourceBuilder<T> builder, IResourceBuilder<IResourceWithConnectionString> database)
        where T : IResource
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(database);
        var worker = builder.Resource;
        builder.WithCommand("run-migrations", "Run migrations again",
            context => RunWorkerAsync(context.Services, worker, context.CancellationToken),
            new CommandOptions
            {
                Description = "Start the migration worker again and wait for it to finish.",
                IconName = "ArrowSync",
                UpdateState = context => IsBusy(context.ResourceSnapshot) ? ResourceCommandState.Disabled : ResourceCommandState.Enabled,
            });
        return builder.WithResetDatabaseCommand(database.Resource, worker);
    }

    /// <summary>
    /// Adds "Reset development database" to <paramref name="builder"/>'s dashboard menu: drop and recreate
    /// <paramref name="database"/>, then run <paramref name="worker"/> to migrate it. Refused outside Development.
    /// </summary>
    /// <param name="builder">The resource whose menu gets the command.</param>
    /// <param name="database">The database to rebuild.</param>
    /// <param name="worker">The migration worker.</param>
    /// <returns>The builder.</returns>
    public static IResourceBuilder<T> WithResetDatabaseCommand<T>(
        this IResourceBuilder<T> builder, IResourceWithConnectionString database, IResource worker)
        where T : IResource
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(worker);
        var environment = builder.ApplicationBuilder.Environment.EnvironmentName;
        var isDevelopment = builder.ApplicationBuilder.Environment.IsDevelopment();
        return builder.WithCommand("reset-database", "Reset development database",
            async context =>
            {
                ExecuteCommandResult? migrated = null;
                try
                {
                    await DatabaseReset.ResetAsync(environment, await database.GetConnectionStringAsync(context.CancellationToken) ?? "",
                        async cancellationToken => migrated = await RunWorkerAsync(context.Services, worker, cancellationToken),
                        context.CancellationToken);
                }
                catch (OperationFailedException ex)
                {
                    return CommandResults.Failure(ex.Message);
                }
                return migrated!;
            },
            new CommandOptions
            {
                Description = "Drop the database, create it empty and apply every migration (Development only).",
                ConfirmationMessage = $"Delete every row in '{database.Name}' and rebuild it from the migrations?",
                IconName = "DatabaseWarning",
                UpdateState = context => isDevelopment && !IsBusy(context.ResourceSnapshot) ? ResourceCommandState.Enabled : ResourceCommandState.Disabled,
            });
    }

    private static bool IsBusy(CustomResourceSnapshot snapshot) =>
        snapshot.State?.Text is { } state && (state == KnownResourceStates.Starting || state == KnownResourceStates.Waiting);

    /// <summary>Starts the (finished) migration worker and waits for its exit code.</summary>
    internal static async Task<ExecuteCommandResult> RunWorkerAsync(IServiceProvider services, IResource worker, CancellationToken cancellationToken)
    {
        var commands = services.GetRequiredService<ResourceCommandService>();
        var notifications = services.GetRequiredService<ResourceNotificationService>();

        var started = await commands.ExecuteCommandAsync(worker, KnownResourceCommands.StartCommand, cancellationToken);
        if (!started.Success)
        {
            return CommandResults.Failure($"Could not start '{worker.Name}': {started.Message}");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(MigrationTimeout);
        var done = await notifications.WaitForResourceAsync(worker.Name,
            e => e.Snapshot.State?.Text is { } state
                && (state == KnownResourceStates.Finished || state == KnownResourceStates.Exited || state == KnownResourceStates.FailedToStart),
            timeout.Token);
        return done.Snapshot.ExitCode == 0
            ? CommandResults.Success()
            : CommandResults.Failure($"'{worker.Name}' exited with code {done.Snapshot.ExitCode}; its console log says why.");
    }
}
