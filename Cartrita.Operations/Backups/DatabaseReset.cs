using System.Diagnostics;

namespace Cartrita.Operations.Backups;

/// <summary>
/// "Reset" wherever it is asked for (the dashboard's command, <c>./cartrita reset</c>): refused outside Development;
/// else the database is dropped, created empty, and migrated again, so the stack goes on with an empty but usable
/// schema. Only how the migrations run differs: the dashboard starts its migration resource, the terminal runs the
/// worker as a process.
/// </summary>
public static class DatabaseReset
{
    /// <summary>Resets the database <paramref name="connectionString"/> names.</summary>
    /// <param name="environment">The running AppHost's environment name.</param>
    /// <param name="connectionString">The database's connection string, as the server's superuser (only it may drop and create databases).</param>
    /// <param name="migrate">Applies every migration to the new, empty database.</param>
    /// <param name="cancellationToken">Cancels the reset.</param>
    public static async Task ResetAsync(string environment, string connectionString, Func<CancellationToken, Task> migrate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(connectionString);
        ArgumentNullException.ThrowIfNull(migrate);
        EnsureAllowed(environment);
        await PostgresBackups.RecreateAsync(connectionString, cancellationToken);
        await migrate(cancellationToken);
    }

    /// <summary>Refuses a reset outside Development, naming the environment.</summary>
    /// <param name="environment">The running AppHost's environment name.</param>
    public static void EnsureAllowed(string environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        if (!string.Equals(environment, "Development", StringComparison.OrdinalIgnoreCase))
        {
            throw new OperationFailedException($"Refused: the running AppHost's environment is {environment}; the database is reset only in Development.");
        }
    }

    /// <summary>
    /// Runs the migration worker (<c>dotnet <paramref name="workerAssembly"/></c>) against <paramref name="connectionString"/>,
    /// as the AppHost does (connection strings in <c>ConnectionStrings__cartrita</c> and <c>ConnectionStrings__postgres-admin</c>,
    /// never on a command line). The roles exist already (they belong to the server, not to the database that was
    /// dropped), so their passwords are left as they are.
    /// </summary>
    /// <param name="workerAssembly">Cartrita.MigrationService.dll.</param>
    /// <param name="connectionString">The database to migrate, as the role that owns it.</param>
    /// <param name="adminConnectionString">The superuser's connection, for the worker's role bootstrap; <see langword="null"/>: none.</param>
    /// <param name="log">Receives the worker's output lines.</param>
    /// <param name="cancellationToken">Cancels the run (the worker is killed).</param>
    public static async Task RunWorkerAsync(
        string workerAssembly, string connectionString, string? adminConnectionString, Action<string> log, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workerAssembly);
        ArgumentNullException.ThrowIfNull(connectionString);
        ArgumentNullException.ThrowIfNull(log);
        if (!File.Exists(workerAssembly))
        {
            throw new OperationFailedException($"The migration worker '{workerAssembly}' is not built: dotnet build Cartrita.MigrationService");
        }
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(workerAssembly);
        start.Environment["ConnectionStrings__cartrita"] = connectionString;
        if (adminConnectionString is not null)
        {
            start.Environment["ConnectionStrings__postgres-admin"] = adminConnectionString;
        }
        using var worker = Process.Start(start) ?? throw new OperationFailedException("Could not start the migration worker.");
        worker.OutputDataReceived += (_, e) => { if (e.Data is { } line) { log(line); } };
        worker.ErrorDataReceived += (_, e) => { if (e.Data is { } line) { log(line); } };
        worker.BeginOutputReadLine();
        worker.BeginErrorReadLine();
        try
        {
            await worker.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            worker.Kill(entireProcessTree: true);
            throw;
        }
        if (worker.ExitCode != 0)
        {
            throw new OperationFailedException($"The database was recreated, but the migrations failed (worker exit {worker.ExitCode}); see its output above.");
        }
    }
}
