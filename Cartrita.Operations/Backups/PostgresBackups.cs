using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using Npgsql;

namespace Cartrita.Operations.Backups;

/// <summary>
/// Backs up a PostgreSQL database with <c>pg_dump</c> into <c>cartrita_YYYYMMDD_HHMMSS.sql.gz</c> files, keeps the newest
/// N, and restores one without ever leaving the live database half-restored: the dump is verified, loaded into a
/// scratch database in one transaction, and only then swapped in by renaming. The password reaches pg_dump and psql
/// through their environment, never their command line.
/// </summary>
public sealed class PostgresBackups(BackupOptions options, Action<string>? log = null)
{
    private const string FilePrefix = "cartrita_";
    private const string FileSuffix = ".sql.gz";
    private const string DumpCompleteMarker = "-- PostgreSQL database dump complete";

    private string PgDump => Path.Combine(options.PostgresBinDirectory, "pg_dump");

    private string Psql => Path.Combine(options.PostgresBinDirectory, "psql");

    /// <summary>The backups in the folder, newest first.</summary>
    public IReadOnlyList<FileInfo> List() =>
        System.IO.Directory.Exists(options.Directory)
            ? new DirectoryInfo(options.Directory).EnumerateFiles($"{FilePrefix}*{FileSuffix}")
                .OrderByDescending(file => file.Name, StringComparer.Ordinal)
                .ToList()
            : [];

    /// <summary>Dumps the database into a new timestamped file, then deletes all but the newest <see cref="BackupOptions.Keep"/>.</summary>
    public async Task<FileInfo> BackupAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        System.IO.Directory.CreateDirectory(options.Directory);
        var path = await NextFileNameAsync(cancellationToken);
        var partial = path + ".partial";

        log?.Invoke($"Backing up database {target.Database} on {target.Host}:{target.Port} to {path}");
        try
        {
            await using (var file = File.Create(partial))
            await using (var gzip = new GZipStream(file, CompressionLevel.Optimal))
            {
                var (exitCode, errors) = await RunAsync(PgDump,
                    [.. ConnectionArguments(target), "--format=plain", "--no-owner", "--no-privileges", "--quote-all-identifiers"],
                    target.Password, standardOutput: gzip, cancellationToken: cancellationToken);
                if (exitCode != 0)
                {
                    throw new OperationFailedException($"pg_dump failed for database {target.Database} on {target.Host}:{target.Port} (exit {exitCode}): {errors.Trim()}");
                }
            }
            // Only a complete dump gets the final name: a crash mid-backup leaves no file that looks restorable.
            File.Move(partial, path, overwrite: false);
        }
        finally
        {
            File.Delete(partial);
        }

        Prune();
        return new FileInfo(path);
    }

    // One backup per second at most: the name carries the time to the second, so a second backup waits for the next one.
    private async Task<string> NextFileNameAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var path = Path.Combine(options.Directory, $"{FilePrefix}{DateTime.UtcNow.ToString("yyyyMMdd_HHmmss", CultureInfo.InvariantCulture)}{FileSuffix}");
            if (!File.Exists(path))
            {
                return path;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }

    /// <summary>Deletes all but the newest <see cref="BackupOptions.Keep"/> backups; returns what was deleted.</summary>
    public IReadOnlyList<string> Prune()
    {
        var stale = List().Skip(Math.Max(1, options.Keep)).ToList();
        foreach (var file in stale)
        {
            file.Delete();
            log?.Invoke($"Deleted old backup {file.Name} (keeping {options.Keep})");
        }
        return stale.Select(file => file.Name).ToList();
    }

    /// <summary>
    /// Replaces the database with the contents of <paramref name="backupFile"/>. A corrupt or truncated file, or one
    /// that fails to load, is refused and the live database is left exactly as it was.
    /// </summary>
    public async Task RestoreAsync(string connectionString, string backupFile, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        ArgumentNullException.ThrowIfNull(backupFile);
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        var database = target.Database ?? throw new OperationFailedException("The connection string names no database to restore into.");
        var sql = await ExtractVerifiedAsync(backupFile, cancellationToken);
        var stamp = DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
        var scratch = $"{database}_restore_{stamp}";
        var admin = new NpgsqlConnectionStringBuilder(target.ConnectionString) { Database = "postgres", Pooling = false }.ConnectionString;

        try
        {
            log?.Invoke($"Loading {Path.GetFileName(backupFile)} into scratch database {scratch}");
            await ExecuteAsync(admin, $"CREATE DATABASE {Quote(scratch)}", cancellationToken);
            var scratchTarget = new NpgsqlConnectionStringBuilder(target.ConnectionString) { Database = scratch };
            var (exitCode, errors) = await RunAsync(Psql,
                [.. ConnectionArguments(scratchTarget), "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction", "--file", sql],
                target.Password, cancellationToken: cancellationToken);
            if (exitCode != 0)
            {
                throw new OperationFailedException($"{Path.GetFileName(backupFile)} failed to load, the live database is unchanged: {errors.Trim()}");
            }

            log?.Invoke($"Swapping {scratch} in as {database}");
            await SwapAsync(admin, database, scratch, $"{database}_before_restore_{stamp}", cancellationToken);
        }
        catch
        {
            await ExecuteAsync(admin, $"DROP DATABASE IF EXISTS {Quote(scratch)} WITH (FORCE)", CancellationToken.None);
            throw;
        }
        finally
        {
            File.Delete(sql);
        }
    }

    /// <summary>Drops and recreates the database, empty (the caller runs migrations afterwards).</summary>
    public static async Task RecreateAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        var database = target.Database ?? throw new OperationFailedException("The connection string names no database to reset.");
        var admin = new NpgsqlConnectionStringBuilder(target.ConnectionString) { Database = "postgres", Pooling = false }.ConnectionString;
        // WITH (FORCE) ends the services' open sessions; they reconnect to the new database.
        await ExecuteAsync(admin, $"DROP DATABASE IF EXISTS {Quote(database)} WITH (FORCE)", cancellationToken);
        await ExecuteAsync(admin, $"CREATE DATABASE {Quote(database)}", cancellationToken);
    }

    // Decompresses to a private temp file, refusing a broken gzip stream or a dump that pg_dump did not finish.
    private static async Task<string> ExtractVerifiedAsync(string backupFile, CancellationToken cancellationToken)
    {
        if (!File.Exists(backupFile))
        {
            throw new OperationFailedException($"Backup file '{backupFile}' does not exist.");
        }
        var sql = Path.Combine(Path.GetTempPath(), $"cartrita-restore-{Guid.NewGuid():N}.sql");
        try
        {
            await using (var input = new GZipStream(File.OpenRead(backupFile), CompressionMode.Decompress))
            await using (var output = File.Create(sql))
            {
                await input.CopyToAsync(output, cancellationToken);
            }
            if (!await EndsWithMarkerAsync(sql, cancellationToken))
            {
                throw new OperationFailedException($"'{backupFile}' is truncated: the dump does not end with pg_dump's completion marker. Nothing was restored.");
            }
            return sql;
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException)
        {
            File.Delete(sql);
            throw new OperationFailedException($"'{backupFile}' is corrupt or truncated ({ex.Message}). Nothing was restored.");
        }
        catch
        {
            File.Delete(sql);
            throw;
        }
    }

    private static async Task<bool> EndsWithMarkerAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(path);
        stream.Seek(Math.Max(0, stream.Length - 4096), SeekOrigin.Begin);
        using var reader = new StreamReader(stream);
        var tail = await reader.ReadToEndAsync(cancellationToken);
        return tail.Contains(DumpCompleteMarker, StringComparison.Ordinal);
    }

    private static async Task SwapAsync(string admin, string database, string scratch, string old, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(admin);
        await connection.OpenAsync(cancellationToken);
        // Close the door first, so no client reconnects between ending its sessions and the rename.
        await ExecuteAsync(connection, $"ALTER DATABASE {Quote(database)} WITH ALLOW_CONNECTIONS false", cancellationToken);
        try
        {
            await ExecuteAsync(connection,
                $"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database.Replace("'", "''", StringComparison.Ordinal)}' AND pid <> pg_backend_pid()",
                cancellationToken);
            await ExecuteAsync(connection, $"ALTER DATABASE {Quote(database)} RENAME TO {Quote(old)}", cancellationToken);
        }
        catch
        {
            await ExecuteAsync(connection, $"ALTER DATABASE {Quote(database)} WITH ALLOW_CONNECTIONS true", CancellationToken.None);
            throw;
        }
        await ExecuteAsync(connection, $"ALTER DATABASE {Quote(scratch)} RENAME TO {Quote(database)}", cancellationToken);
        await ExecuteAsync(connection, $"DROP DATABASE {Quote(old)} WITH (FORCE)", cancellationToken);
    }

    private static async Task ExecuteAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await ExecuteAsync(connection, sql, cancellationToken);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static string Quote(string identifier) => $"\"{identifier.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";

    private static string[] ConnectionArguments(NpgsqlConnectionStringBuilder target) =>
        ["--host", target.Host ?? "localhost", "--port", target.Port.ToString(CultureInfo.InvariantCulture),
         "--username", target.Username ?? "postgres", "--dbname", target.Database ?? "postgres", "--no-password"];

    private static async Task<(int ExitCode, string Errors)> RunAsync(
        string program, string[] arguments, string? password, Stream? standardOutput = null, CancellationToken cancellationToken = default)
    {
        var startInfo = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }
        startInfo.Environment["PGPASSWORD"] = password ?? "";
        startInfo.Environment["PGCONNECT_TIMEOUT"] = "10";

        using var process = Process.Start(startInfo)
            ?? throw new OperationFailedException($"Could not start {program}.");
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        if (standardOutput is not null)
        {
            await process.StandardOutput.BaseStream.CopyToAsync(standardOutput, cancellationToken);
        }
        else
        {
            await process.StandardOutput.ReadToEndAsync(cancellationToken);
        }
        await process.WaitForExitAsync(cancellationToken);
        return (process.ExitCode, await errors);
    }
}

/// <summary>An operation that failed for a reason the operator can act on; its message says what and why.</summary>
public sealed class OperationFailedException(string message) : Exception(message);
