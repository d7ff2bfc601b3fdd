using System.Diagnostics;
using Cartrita.MigrationService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace Cartrita.MigrationService;

/// <summary>
/// Brings the database to the current schema, then stops the host so dependents (WaitForCompletion) can start.
/// A failure sets a non-zero exit code and says which server, database or migration it was.
/// </summary>
public sealed class Worker(IServiceProvider serviceProvider, IHostApplicationLifetime lifetime, ILogger<Worker> logger) : BackgroundService
{
    public const string ActivitySourceName = "Cartrita.Migrations";

    internal static readonly ActivitySource ActivitySource = new(ActivitySourceName);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var activity = ActivitySource.StartActivity("Migrate database", ActivityKind.Client);
        var stopwatch = Stopwatch.StartNew();
        var target = "the database";
        try
        {
            using var scope = serviceProvider.CreateScope();
            var dbContext = scope.ServiceProvider.GetRequiredService<CartritaDbContext>();
            target = DescribeTarget(dbContext, activity);

            var bootstrap = scope.ServiceProvider.GetService<DatabaseBootstrap>();
            if (bootstrap is not null)
            {
                // As the superuser: roles, database, extensions, ownership, privileges (then the owner migrates).
                var bootstrapped = await bootstrap.RunAsync(stoppingToken);
                activity?.SetTag("cartrita.database.created", bootstrapped.CreatedDatabase);
                activity?.SetTag("cartrita.roles.created", bootstrapped.CreatedRoles.ToArray());
                activity?.SetTag("cartrita.migrations.extensions_created", bootstrapped.CreatedExtensions.ToArray());
            }
            else
            {
                var connectionString = scope.ServiceProvider.GetRequiredService<NpgsqlConnectionStringBuilder>();
                activity?.SetTag("cartrita.database.created", await new DatabaseCreator(logger).EnsureExistsAsync(connectionString, stoppingToken));
            }

            var result = await new DatabaseMigrator(dbContext, logger, grantAppRole: bootstrap is not null).MigrateAsync(stoppingToken);

            activity?.SetTag("cartrita.migrations.applied", result.AppliedMigrations.ToArray());
            activity?.SetTag("cartrita.migrations.applied_count", result.AppliedMigrations.Count);
            if (bootstrap is null)
            {
                activity?.SetTag("cartrita.migrations.extensions_created", result.CreatedExtensions.ToArray());
            }
            logger.LogInformation(
                result.AppliedMigrations.Count == 0
                    ? "Schema of {Target} is current (no-op) after {ElapsedMs} ms"
                    : "Schema of {Target} migrated after {ElapsedMs} ms",
                target, stopwatch.ElapsedMilliseconds);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopped (Ctrl+C, SIGTERM) before finishing: dependents must not start on a half-migrated schema.
            activity?.SetStatus(ActivityStatusCode.Error, "cancelled");
            logger.LogWarning("Migration of {Target} was cancelled before it finished", target);
            Environment.ExitCode = 1;
        }
        catch (Exception ex)
        {
            activity?.AddException(ex);
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetBaseException().Message);
            logger.LogCritical("Migration failed after {ElapsedMs} ms: {Reason}", stopwatch.ElapsedMilliseconds, DescribeFailure(ex, target));
            Environment.ExitCode = 1;
        }

        lifetime.StopApplication();
    }

    // "host H, port P, database D": enough to act on without a stack trace (and without the password).
    private static string DescribeTarget(CartritaDbContext dbContext, Activity? activity)
    {
        var connectionString = new NpgsqlConnectionStringBuilder(dbContext.Database.GetConnectionString());
        activity?.SetTag("db.system.name", "postgresql");
        activity?.SetTag("server.address", connectionString.Host);
        activity?.SetTag("server.port", connectionString.Port);
        activity?.SetTag("db.namespace", connectionString.Database);
        return $"host {connectionString.Host}, port {connectionString.Port}, database {connectionString.Database}";
    }

    // 28P01. The server keeps the password its data directory was initialized with; POSTGRES_PASSWORD is read only then.
    // Retrying cannot help, so say what can: one line, no stack trace.
    internal static string PasswordMismatch(string target) =>
        $"PostgreSQL at {target} rejected the password (28P01): its data volume was initialized with another password. " +
        "Fix: put that old password back in secrets/postgres-password (deploy/compose/secrets/ or deploy/k8s/secrets/) and publish again, " +
        "or remove the data volume to start empty, LOSING ITS DATA (Compose: `docker-compose -f docker-compose.prod.yml down` then " +
        "`docker volume rm compose_cartrita-postgres-data`, named <project>_cartrita-postgres-data; Kubernetes: the claim cartrita-postgres-data-postgres-0).";

    private static string DescribeFailure(Exception ex, string target)
    {
        // The retrying strategy wraps the last transient error.
        var cause = ex is RetryLimitExceededException { InnerException: { } inner } ? inner : ex;
        return cause switch
        {
            MigrationFailedException failed => $"{failed.Message} ({target})",
            PostgresException { SqlState: PostgresErrorCodes.InvalidPassword } => PasswordMismatch(target),
            PostgresException postgres => $"PostgreSQL at {target} refused: {postgres.SqlState}: {postgres.MessageText}",
            NpgsqlException or TimeoutException or System.Net.Sockets.SocketException =>
                $"could not reach PostgreSQL at {target}: {cause.GetBaseException().Message}",
            _ => $"{cause.GetBaseException().Message} ({target})",
        };
    }
}
