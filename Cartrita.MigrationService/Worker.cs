using System.Diagnostics;
using Cartrita.MigrationService.Data;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Cartrita.MigrationService;

/// <summary>
/// Brings the database to the current schema, then stops the host so dependents (WaitForCompletion) can start.
/// A failure sets a non-zero exit code and says which server or migration it was.
/// </summary>
public sealed class Worker(IServiceProvider serviceProvider, IHostApplicationLifetime lifetime, ILogger<Worker> logger) : BackgroundService
{
    public const string ActivitySourceName = "Cartrita.Migrations";

    private static readonly ActivitySource ActivitySource = new(ActivitySourceName);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var activity = ActivitySource.StartActivity("Migrating database", ActivityKind.Client);
        try
        {
            using var scope = serviceProvider.CreateScope();
            var dbContext = scope.ServiceProvider.GetRequiredService<CartritaDbContext>();
            await new DatabaseMigrator(dbContext, logger).MigrateAsync(stoppingToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            activity?.AddException(ex);
            logger.LogCritical("Migration failed: {Reason}", DescribeFailure(serviceProvider, ex));
            Environment.ExitCode = 1;
        }

        lifetime.StopApplication();
    }

    // Names the server and database for connection failures, so the message is actionable without a stack trace.
    private static string DescribeFailure(IServiceProvider services, Exception ex)
    {
        using var scope = services.CreateScope();
        var connectionString = scope.ServiceProvider.GetRequiredService<CartritaDbContext>().Database.GetConnectionString();
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        var where = $"host {target.Host}, port {target.Port}, database {target.Database}";
        return ex switch
        {
            MigrationFailedException failed => $"{failed.Message} ({where})",
            NpgsqlException or TimeoutException or System.Net.Sockets.SocketException =>
                $"could not reach PostgreSQL at {where}: {ex.GetBaseException().Message}",
            _ => $"{ex.GetBaseException().Message} ({where})",
        };
    }
}
