using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

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
    /// <param name="builder">The migration worker.</param>
    /// <param name="database">The database it migrates.</param>
    /// <returns>The migration worker's builder.</returns>
    public static IResourceBuilder<ProjectResource> WithMigrationCommands(
        this IResourceBuilder<ProjectResource> builder, IResourceBuilder<IResourceWithConnectionString> database)
    {
        var worker = builder.Resource;
        var isDevelopment = builder.ApplicationBuilder.Environment.IsDevelopment();

        builder.WithCommand("run-migrations", "Run migrations again",
            context => RunWorkerAsync(context.Services, worker, context.CancellationToken),
            new CommandOptions
            {
                Description = "Start the migration worker again and wait for it to finish.",
                IconName = "ArrowSync",
                UpdateState = context => IsRunning(context.ResourceSnapshot) ? ResourceCommandState.Disabled : ResourceCommandState.Enabled,
            });

        builder.WithCommand("reset-database", "Reset development database",
            async context =>
            {
                if (!isDevelopment)
                {
                    return CommandResults.Failure("Refused: the database is reset only when the AppHost environment is Development.");
                }
                await RecreateAsync(database.Resource, context.CancellationToken);
                return await RunWorkerAsync(context.Services, worker, context.CancellationToken);
            },
            new CommandOptions
            {
                Description = "Drop the database, create it empty and apply every migration (Development only).",
                ConfirmationMessage = $"Delete every row in '{database.Resource.Name}' and rebuild it from the migrations?",
                IconName = "DatabaseWarning",
                UpdateState = context => isDevelopment && !IsRunning(context.ResourceSnapshot)
                    ? ResourceCommandState.Enabled
                    : ResourceCommandState.Disabled,
            });

        return builder;
    }

    private static bool IsRunning(CustomResourceSnapshot snapshot) =>
        snapshot.State?.Text is { } state && (state == KnownResourceStates.Running || state == KnownResourceStates.Starting);

    private static async Task<ExecuteCommandResult> RunWorkerAsync(IServiceProvider services, IResource worker, CancellationToken cancellationToken)
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
            e => e.Snapshot.State?.Text is { } state && (state == KnownResourceStates.Finished || state == KnownResourceStates.Exited || state == KnownResourceStates.FailedToStart),
            timeout.Token);
        return done.Snapshot.ExitCode == 0
            ? CommandResults.Success()
            : CommandResults.Failure($"'{worker.Name}' exited with code {done.Snapshot.ExitCode}; its console log says why.");
    }

    private static async Task RecreateAsync(IResourceWithConnectionString database, CancellationToken cancellationToken)
    {
        var target = new NpgsqlConnectionStringBuilder(await database.GetConnectionStringAsync(cancellationToken));
        var name = target.Database ?? throw new InvalidOperationException($"'{database.Name}' names no database.");
        var admin = new NpgsqlConnectionStringBuilder(target.ConnectionString) { Database = "postgres", Pooling = false };

        await using var connection = new NpgsqlConnection(admin.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        var quoted = $"\"{name.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
        // WITH (FORCE) ends the orchestrator's open sessions; they reconnect to the new database.
        await using (var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)", connection))
        {
            await drop.ExecuteNonQueryAsync(cancellationToken);
        }
        await using (var create = new NpgsqlCommand($"CREATE DATABASE {quoted}", connection))
        {
            await create.ExecuteNonQueryAsync(cancellationToken);
        }
    }
}
