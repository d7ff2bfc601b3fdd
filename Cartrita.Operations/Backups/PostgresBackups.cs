using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using Npgsql;

namespace Cartrita.Operations.Backups;

/// <summary>
/// Backs up a PostgreSQL database with <c>pg_dump</c> into <c>cartrita_YYYYMMDD_HHMMSS.sql.gz</c> files (owner-only, in an
/// owner-only folder, each with its SHA-256 in <c>….sql.gz.sha256</c>), keeps the newest N, and restores one without ever
/// leaving the live database half-restored: the checksum and the dump are verified (<see cref="DumpScript"/>: no psql
/// meta-command pg_dump does not write), the dump is loaded as the connection's role (the database's owner, never the
/// superuser) into a scratch database cloned from the restore template, in one transaction, and only then swapped in by
/// renaming. The password reaches pg_dump and psql through their environment, never their command line.
/// </summary>
public sealed class PostgresBackups(BackupOptions options, Action<string>? log = null)
{
    private const string FilePrefix = "cartrita_";
    private const string FileSuffix = ".sql.gz";

    /// <summary>The checksum file next to each backup: <c>sha256sum</c>'s format, so <c>sha256sum -c</c> checks it too.</summary>
    public const string ChecksumSuffix = ".sha256";

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
        // The dumps hold the whole database.
        PrivateFiles.CreateDirectory(options.Directory);
        var path = await NextFileNameAsync(cancellationToken);
        var partial = path + ".partial";
        var checksum = path + ChecksumSuffix;

        log?.Invoke($"Backing up database {target.Database} on {target.Host}:{target.Port} as {target.Username} to {path}");
        var written = false;
        try
        {
            await using (var file = PrivateFiles.CreateFile(partial))
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
            // The checksum first, then the final name: a complete dump is never without its checksum, and a crash
            // mid-backup leaves no file that looks restorable.
            await using (var file = PrivateFiles.CreateFile(checksum))
            await using (var writer = new StreamWriter(file))
            {
                await writer.WriteAsync($"{await Sha256Async(partial, cancellationToken)}  {Path.GetFileName(path)}\n");
            }
            File.Move(partial, path, overwrite: false);
            written = true;
        }
        finally
        {
            File.Delete(partial);
            if (!written)
            {
                File.Delete(checksum);
            }
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
            File.Delete(file.FullName + ChecksumSuffix);
            log?.Invoke($"Deleted old backup {file.Name} (keeping {options.Keep})");
        }
        return stale.Select(file => file.Name).ToList();
    }

    /// <summary>
    /// Replaces the database with the contents of <paramref name="backupFile"/>. A file whose checksum does not match, that
    /// holds a psql meta-command pg_dump does not write, that is corrupt or truncated, or that fails to load, is refused and
    /// the live database is left exactly as it was.
    /// </summary>
    /// <param name="connectionString">The database, as its owner: the dump is loaded as this role.</param>
    /// <param name="backupFile">The backup.</param>
    /// <param name="adminConnectionString">
    /// The superuser's connection, used only for the swap, where every session on the database must end (the AppHost's
    /// own health checks are the superuser's, which the owner may not end); <see langword="null"/>: the owner swaps.
    /// </param>
    /// <param name="requireChecksum">
    /// <see langword="false"/> restores a file without a checksum (a backup made before checksums were written), after the
    /// operator checked where it came from; a checksum that is there must still match.
    /// </param>
    /// <param name="cancellationToken">Cancels the restore (the scratch database is dropped).</param>
    public async Task RestoreAsync(
        string connectionString, string backupFile, string? adminConnectionString = null, bool requireChecksum = true, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        ArgumentNullException.ThrowIfNull(backupFile);
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        var database = target.Database ?? throw new OperationFailedException("The connection string names no database to restore into.");
        await VerifyChecksumAsync(backupFile, requireChecksum, cancellationToken);
        var sql = await ExtractCheckedAsync(backupFile, cancellationToken);
        var stamp = DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
        var scratch = $"{database}_restore_{stamp}";
        var owner = Maintenance(target.ConnectionString);
        var swapper = adminConnectionString is null ? owner : Maintenance(adminConnectionString);

        try
        {
            log?.Invoke($"Loading {Path.GetFileName(backupFile)} into scratch database {scratch} as {target.Username}");
            await CreateScratchAsync(owner, database, scratch, cancellationToken);
            var scratchTarget = new NpgsqlConnectionStringBuilder(target.ConnectionString) { Database = scratch };
            var (exitCode, errors) = await RunAsync(Psql,
                [.. ConnectionArguments(scratchTarget), "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction", "--file", sql],
                target.Password, cancellationToken: cancellationToken);
            if (exitCode != 0)
            {
                throw new OperationFailedException(LoadFailure(Path.GetFileName(backupFile), errors));
            }
            // As the database the migration worker made: every role but the owner may connect, none may create TEMP tables.
            await ExecuteAsync(owner, $"REVOKE TEMPORARY ON DATABASE {Quote(scratch)} FROM PUBLIC", cancellationToken);

            log?.Invoke($"Swapping {scratch} in as {database}");
            await SwapAsync(swapper, database, scratch, $"{database}_before_restore_{stamp}", cancellationToken);
        }
        catch
        {
            try
            {
                await ExecuteAsync(owner, $"DROP DATABASE IF EXISTS {Quote(scratch)} WITH (FORCE)", CancellationToken.None);
            }
            catch (NpgsqlException cleanup)
            {
                // The reason the restore failed matters more; the leftover is named so that it can be dropped by hand.
                log?.Invoke($"Could not drop the scratch database {scratch} ({cleanup.Message}); drop it by hand.");
            }
            throw;
        }
        finally
        {
            File.Delete(sql);
        }
    }

    /// <summary>
    /// The scratch database, cloned from the template the migration worker prepares (the extensions, which only a
    /// superuser may create, and the app role's default privileges), owned by the role that restores.
    /// </summary>
    private static async Task CreateScratchAsync(string owner, string database, string scratch, CancellationToken cancellationToken)
    {
        var template = $"{database}_template";
        try
        {
            await ExecuteAsync(owner, $"CREATE DATABASE {Quote(scratch)} TEMPLATE {Quote(template)}", cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InvalidCatalogName or PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new OperationFailedException(
                $"Cannot create the scratch database from the restore template {template} ({e.SqlState}: {e.MessageText}): the migration worker prepares it; " +
                "run the migrations (start the stack) first. Nothing was restored.");
        }
    }

    private static string LoadFailure(string fileName, string errors) =>
        errors.Contains("backslash commands are restricted", StringComparison.Ordinal)
            ? $"{fileName} holds a psql meta-command pg_dump does not write (psql refused it: {errors.Trim()}). Refused; the live database is unchanged."
            : errors.Contains("invalid command \\restrict", StringComparison.Ordinal)
                ? $"psql is too old to restore safely (it lacks \\restrict: PostgreSQL 15.14 or later is needed); the live database is unchanged."
                : $"{fileName} failed to load, the live database is unchanged: {errors.Trim()}";

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

    /// <summary>
    /// Refuses a backup whose <c>.sha256</c> does not match (changed or damaged after it was written), or that has none
    /// unless <paramref name="requireChecksum"/> is off.
    /// </summary>
    private async Task VerifyChecksumAsync(string backupFile, bool requireChecksum, CancellationToken cancellationToken)
    {
        if (!File.Exists(backupFile))
        {
            throw new OperationFailedException($"Backup file '{backupFile}' does not exist.");
        }
        var checksumFile = backupFile + ChecksumSuffix;
        if (!File.Exists(checksumFile))
        {
            if (requireChecksum)
            {
                throw new OperationFailedException(
                    $"'{backupFile}' has no checksum file {Path.GetFileName(checksumFile)} (a backup made before checksums, or copied without it), " +
                    "so nothing shows it is the file that was written. Nothing was restored. If you know where it came from, restore it with " +
                    "`./cartrita restore --no-verify FILE`.");
            }
            log?.Invoke($"{Path.GetFileName(backupFile)} has no checksum; restoring it unverified, as asked (--no-verify)");
            return;
        }
        var expected = (await File.ReadAllTextAsync(checksumFile, cancellationToken)).Split([' ', '\t', '\n'], 2)[0].Trim().ToLowerInvariant();
        var actual = await Sha256Async(backupFile, cancellationToken);
        if (!CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(expected), System.Text.Encoding.ASCII.GetBytes(actual)))
        {
            throw new OperationFailedException(
                $"'{backupFile}' does not match its checksum {Path.GetFileName(checksumFile)}: it changed after it was written (damaged or altered). Nothing was restored.");
        }
    }

    // Decompresses into a private temp file what DumpScript lets psql run, refusing a broken gzip stream, a dump that
    // pg_dump did not finish, or one with a meta-command pg_dump does not write.
    private static async Task<string> ExtractCheckedAsync(string backupFile, CancellationToken cancellationToken)
    {
        var sql = Path.Combine(Path.GetTempPath(), $"cartrita-restore-{Guid.NewGuid():N}.sql");
        try
        {
            await using (var input = new GZipStream(File.OpenRead(backupFile), CompressionMode.Decompress))
            using (var reader = new StreamReader(input))
            await using (var output = new StreamWriter(PrivateFiles.CreateFile(sql)))
            {
                await DumpScript.CopyCheckedAsync(reader, output, DumpScript.NewRestrictKey(), backupFile, cancellationToken);
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

    private static async Task<string> Sha256Async(string path, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
    }

    private static string Maintenance(string connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres", Pooling = false }.ConnectionString;

    private static async Task SwapAsync(string admin, string database, string scratch, string old, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(admin);
        await connection.OpenAsync(cancellationToken);
        // Close the door first, so no client reconnects between ending its sessions and the rename.
        await ExecuteAsync(connection, $"ALTER DATABASE {Quote(database)} WITH ALLOW_CONNECTIONS false", cancellationToken);
        try
        {
            // A superuser ends every session; the owner those of the roles it is a member of (the app's). A session it may
            // not end makes the rename fail, and the live database is opened again below.
            await ExecuteAsync(connection, $"""
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE datname = '{database.Replace("'", "''", StringComparison.Ordinal)}' AND pid <> pg_backend_pid()
                  AND (pg_has_role(usesysid, 'USAGE') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))
                """, cancellationToken);
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
