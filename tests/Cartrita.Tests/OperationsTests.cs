using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using Cartrita.Operations.Stack;
using Npgsql;

namespace Cartrita.Tests;

/// <summary>
/// Backup, restore, reset and doctor against the real stack (PostgreSQL + pgvector as a local process), acting as the
/// database's owner (cartrita_owner) as the commands do; the published backup.sh against the same server.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class OperationsTests(StackFixture stack)
{
    private static readonly string RepositoryRoot = FindRepositoryRoot();

    // The terminal's operations tool (`./cartrita backup|restore|reset` run it), built next to the tests.
    private static readonly string OperationsTool = Path.Combine(AppContext.BaseDirectory, "Cartrita.Operations.Cli.dll");

    private string BackupDirectory => Path.Combine(stack.DataDirectory, "backups");

    private async Task<ExecuteCommandResult> RunCommandAsync(string resource, string command)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var commands = stack.App.Services.GetRequiredService<ResourceCommandService>();
        return await commands.ExecuteCommandAsync(resource, command, timeout.Token);
    }

    /// <summary>The database as its owner, from the stack state the AppHost writes (what `./cartrita backup` reads).</summary>
    private string OwnerConnectionString =>
        StackState.Read(stack.DataDirectory)?.Database ?? throw new InvalidOperationException("the stack wrote no run/stack.json");

    private async Task<NpgsqlConnection> OpenAsync()
    {
        // As the owner, like the migrations: objects the superuser created would be the one thing a backup (as the owner)
        // cannot read.
        var connection = new NpgsqlConnection(OwnerConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = await OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    // The probe table's row count and checksum, plus the exact row count of every table in public.
    private async Task<string> SnapshotAsync()
    {
        await using var connection = await OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT (SELECT count(*) || ':' || coalesce(md5(string_agg(id || '|' || payload || '|' || embedding::text, ',' ORDER BY id)), '')
                    FROM ops_probe)
                || ' ' || (SELECT string_agg(table_name || '=' || (xpath('/row/c/text()',
                       query_to_xml(format('SELECT count(*) AS c FROM public.%I', table_name), false, true, '')))[1]::text, ',' ORDER BY table_name)
                    FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE')
            """, connection);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    private async Task<string> ProbeChecksumAsync()
    {
        await using var connection = await OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(*) || ':' || coalesce(md5(string_agg(id || '|' || payload || '|' || embedding::text, ',' ORDER BY id)), '') FROM ops_probe",
            connection);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Backup_then_change_then_restore_gives_back_the_data_of_the_backup_moment()
    {
        await ExecuteAsync("""
            DROP TABLE IF EXISTS ops_probe;
            CREATE TABLE ops_probe (id int PRIMARY KEY, payload text NOT NULL, embedding vector(3) NOT NULL);
            INSERT INTO ops_probe SELECT i, 'row ' || i, ARRAY[i, i * 2, i * 3]::vector FROM generate_series(1, 500) AS i;
            """);
        var atBackup = await ProbeChecksumAsync();

        var backup = await RunCommandAsync("postgres", "backup");
        Assert.True(backup.Success, backup.Message);
        Assert.Contains("Backup written: cartrita_", backup.Message);
        // Owner-only, in an owner-only folder, with its checksum (issue 17).
        var written = new DirectoryInfo(BackupDirectory).GetFiles("cartrita_*.sql.gz").MaxBy(file => file.Name)!;
        var checksum = await File.ReadAllTextAsync(written.FullName + ".sha256");
        Assert.Equal($"{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(written.FullName)))}  {written.Name}\n", checksum);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, written.UnixFileMode);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(written.FullName + ".sha256"));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, new DirectoryInfo(BackupDirectory).UnixFileMode);
        }

        await ExecuteAsync("DELETE FROM ops_probe WHERE id % 3 = 0; UPDATE ops_probe SET payload = 'changed' WHERE id < 50; INSERT INTO ops_probe VALUES (9999, 'new', '[1,1,1]');");
        Assert.NotEqual(atBackup, await ProbeChecksumAsync());

        var restore = await RunCommandAsync("postgres", "restore-latest");
        Assert.True(restore.Success, restore.Message);
        // The swap ended every session on the old database, our pooled ones too.
        NpgsqlConnection.ClearAllPools();
        Assert.Equal(atBackup, await ProbeChecksumAsync());

        // The orchestrator reconnects to the swapped-in database.
        using var client = stack.App.CreateHttpClient("ai-orchestrator", "http");
        await WaitUntilAsync(async () => (await client.GetAsync("/health")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(20));
    }

    [Theory]
    [InlineData("cut in half")]
    [InlineData("valid gzip, dump cut short")]
    public async Task Corrupt_or_truncated_backup_is_refused_and_live_data_is_untouched(string damage)
    {
        await ExecuteAsync("""
            CREATE TABLE IF NOT EXISTS ops_probe (id int PRIMARY KEY, payload text NOT NULL, embedding vector(3) NOT NULL);
            INSERT INTO ops_probe VALUES (424242, 'must survive', '[4,2,4]') ON CONFLICT (id) DO NOTHING;
            """);
        var backup = await RunCommandAsync("postgres", "backup");
        Assert.True(backup.Success, backup.Message);
        var before = await SnapshotAsync();

        var good = new DirectoryInfo(BackupDirectory).GetFiles("cartrita_*.sql.gz").MaxBy(file => file.Name)!;
        var bytes = await File.ReadAllBytesAsync(good.FullName);
        var damaged = damage == "cut in half" ? bytes[..(bytes.Length / 2)] : TruncatedDump(bytes);
        // Damaged as it was written (its checksum matches): the content checks refuse it.
        var badPath = await WriteLatestAsync(damaged);
        try
        {
            var restore = await RunCommandAsync("postgres", "restore-latest");

            Assert.False(restore.Success);
            Assert.Contains("Nothing was restored", restore.Message);
            Assert.Equal(before, await SnapshotAsync());
        }
        finally
        {
            DeleteBackup(badPath);
        }
    }

    [Fact]
    public async Task A_backup_changed_after_it_was_written_or_without_its_checksum_is_refused()
    {
        await CreateProbeAsync();
        var backup = await RunCommandAsync("postgres", "backup");
        Assert.True(backup.Success, backup.Message);
        var before = await SnapshotAsync();
        var good = await File.ReadAllBytesAsync(new DirectoryInfo(BackupDirectory).GetFiles("cartrita_*.sql.gz").MaxBy(file => file.Name)!.FullName);

        var path = await WriteLatestAsync(good);
        try
        {
            await File.AppendAllTextAsync(path, "\n"); // changed after its checksum was taken
            var changed = await RunCommandAsync("postgres", "restore-latest");
            File.Delete(path + ".sha256");
            var unverified = await RunCommandAsync("postgres", "restore-latest");

            Assert.False(changed.Success);
            Assert.Contains("does not match its checksum", changed.Message);
            Assert.False(unverified.Success);
            Assert.Contains("has no checksum file", unverified.Message);
            Assert.Contains("--no-verify", unverified.Message);
            Assert.Equal(before, await SnapshotAsync());
        }
        finally
        {
            DeleteBackup(path);
        }
    }

    /// <summary>
    /// Issue 17, the attack: a crafted backup whose psql meta-command (\!) or server program (COPY … TO PROGRAM) ran as the
    /// client's and the server's OS users before the restore failed. Each is refused, the command never runs (its file is
    /// not created), the live database is untouched and no scratch database is left.
    /// </summary>
    [Trait("Category", "Security")]
    [Theory]
    [InlineData("\\! touch {0}", "psql meta-command \\!")]
    [InlineData("COPY (SELECT 1) TO PROGRAM 'touch {0}';", "pg_execute_server_program")]
    [InlineData("SELECT 1; \\! touch {0}", "backslash commands are restricted")]
    public async Task A_crafted_backup_cannot_run_a_command_and_the_live_database_is_untouched(string payload, string refusal)
    {
        await CreateProbeAsync();
        var backup = await RunCommandAsync("postgres", "backup");
        Assert.True(backup.Success, backup.Message);
        var before = await SnapshotAsync();
        var marker = $"/tmp/pwned-{Guid.NewGuid():N}";
        var path = await WriteLatestAsync(Crafted(string.Format(System.Globalization.CultureInfo.InvariantCulture, payload, marker)));
        try
        {
            var dashboard = await RunCommandAsync("postgres", "restore-latest");
            var (exitCode, output) = await RunOperationsAsync("restore", path);

            Assert.False(dashboard.Success);
            Assert.Contains(refusal, dashboard.Message);
            Assert.Equal(1, exitCode);
            Assert.Contains(refusal, output);
            Assert.False(File.Exists(marker), $"the crafted backup ran its command ({marker} exists)");
            NpgsqlConnection.ClearAllPools();
            Assert.Equal(before, await SnapshotAsync());
            await using var connection = await OpenAsync();
            await using var leftovers = new NpgsqlCommand("SELECT count(*) FROM pg_database WHERE datname LIKE 'cartrita\\_restore\\_%'", connection);
            Assert.Equal(0L, (long)(await leftovers.ExecuteScalarAsync())!);
        }
        finally
        {
            DeleteBackup(path);
            File.Delete(marker);
        }
    }

    /// <summary>The published backup.sh (the Compose service, the CronJob) against the same server, as the owner.</summary>
    [Trait("Category", "Security")]
    [Fact]
    public async Task The_published_backup_script_backs_up_and_restores_as_the_owner_and_refuses_the_attack()
    {
        await CreateProbeAsync();
        var before = await ProbeChecksumAsync();
        var directory = TestStack.CreateDataDirectory();
        var marker = $"/tmp/pwned-{Guid.NewGuid():N}";
        try
        {
            var backup = await RunBackupScriptAsync(directory);
            Assert.True(backup.ExitCode == 0, backup.Output);
            var name = Directory.GetFiles(directory, "cartrita_*.sql.gz").Select(Path.GetFileName).Single()!;
            Assert.True(File.Exists(Path.Combine(directory, name + ".sha256")));

            await ExecuteAsync("DELETE FROM ops_probe");
            // The owner swaps: it ends the app's sessions, not a superuser's; this process's idle pooled ones are closed here.
            NpgsqlConnection.ClearAllPools();
            var restore = await RunBackupScriptAsync(directory, "restore", name);
            Assert.True(restore.ExitCode == 0, restore.Output);
            NpgsqlConnection.ClearAllPools();
            Assert.Equal(before, await ProbeChecksumAsync());

            var crafted = Path.Combine(directory, "cartrita_29991231_235959.sql.gz");
            await File.WriteAllBytesAsync(crafted, Crafted($"COPY (SELECT 1) TO PROGRAM 'touch {marker}';", await File.ReadAllBytesAsync(Path.Combine(directory, name))));
            await File.WriteAllTextAsync(crafted + ".sha256", $"{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(crafted)))}  {Path.GetFileName(crafted)}\n");
            var attack = await RunBackupScriptAsync(directory, "restore", Path.GetFileName(crafted));
            Assert.Equal(1, attack.ExitCode);
            Assert.Contains("pg_execute_server_program", attack.Output);
            Assert.False(File.Exists(marker), "the crafted backup ran its program on the server");
            NpgsqlConnection.ClearAllPools();
            Assert.Equal(before, await ProbeChecksumAsync());
        }
        finally
        {
            // The swap keeps the replaced database (closed) for the operator to drop.
            await using (var connection = await OpenAsync())
            {
                await using var kept = new NpgsqlCommand("SELECT datname FROM pg_database WHERE datname LIKE 'cartrita\\_before\\_restore\\_%'", connection);
                var names = new List<string>();
                await using (var reader = await kept.ExecuteReaderAsync())
                {
                    while (await reader.ReadAsync())
                    {
                        names.Add(reader.GetString(0));
                    }
                }
                foreach (var old in names)
                {
                    await using var drop = new NpgsqlCommand($"DROP DATABASE \"{old}\"", connection);
                    await drop.ExecuteNonQueryAsync();
                }
            }
            TestStack.DeleteDataDirectory(directory);
            File.Delete(marker);
        }
    }

    private Task<(int ExitCode, string Output)> RunBackupScriptAsync(string directory, params string[] arguments)
    {
        var owner = new NpgsqlConnectionStringBuilder(OwnerConnectionString);
        return ChildProcess.RunAsync("sh", [Path.Combine(RepositoryRoot, "Cartrita.Publishing", "Deployment", "backup.sh"), .. arguments], TimeSpan.FromMinutes(2),
            new Dictionary<string, string>
            {
                ["PATH"] = $"/usr/lib/postgresql/15/bin:{Environment.GetEnvironmentVariable("PATH")}",
                ["PGHOST"] = owner.Host!,
                ["PGPORT"] = owner.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["PGUSER"] = owner.Username!,
                ["PGDATABASE"] = owner.Database!,
                ["BACKUP_DIR"] = directory,
                ["BACKUP_PASSWORD"] = owner.Password!,
            });
    }

    private Task<(int ExitCode, string Output)> RunOperationsAsync(params string[] arguments) =>
        RunAsync("dotnet", [OperationsTool, .. arguments, "--data-dir", stack.DataDirectory, "--backups", BackupDirectory]);

    /// <summary>The newest real backup with <paramref name="line"/> put before its first statement, as an attacker would.</summary>
    private byte[] Crafted(string line, byte[]? gzip = null)
    {
        gzip ??= File.ReadAllBytes(new DirectoryInfo(BackupDirectory).GetFiles("cartrita_2*.sql.gz")
            .Where(file => !file.Name.StartsWith("cartrita_2999", StringComparison.Ordinal)).MaxBy(file => file.Name)!.FullName);
        using var input = new GZipStream(new MemoryStream(gzip), CompressionMode.Decompress);
        using var reader = new StreamReader(input);
        var sql = reader.ReadToEnd();
        Assert.Contains("\nSET statement_timeout = 0;\n", sql);
        sql = sql.Replace("\nSET statement_timeout = 0;\n", $"\n{line}\nSET statement_timeout = 0;\n", StringComparison.Ordinal);
        using var output = new MemoryStream();
        using (var gzipOut = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzipOut.Write(System.Text.Encoding.UTF8.GetBytes(sql));
        }
        return output.ToArray();
    }

    /// <summary>Writes <paramref name="gzip"/> as the newest backup ("latest"), with a checksum that matches it.</summary>
    private async Task<string> WriteLatestAsync(byte[] gzip)
    {
        var path = Path.Combine(BackupDirectory, "cartrita_29991231_235959.sql.gz");
        await File.WriteAllBytesAsync(path, gzip);
        await File.WriteAllTextAsync(path + ".sha256", $"{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(gzip))}  {Path.GetFileName(path)}\n");
        return path;
    }

    private static void DeleteBackup(string path)
    {
        File.Delete(path);
        File.Delete(path + ".sha256");
    }

    [Fact]
    public async Task Retention_keeps_the_newest_backups_only()
    {
        Directory.CreateDirectory(BackupDirectory);
        string[] old = ["cartrita_20200101_000000.sql.gz", "cartrita_20200102_000000.sql.gz", "cartrita_20200103_000000.sql.gz", "cartrita_20200104_000000.sql.gz"];
        foreach (var name in old)
        {
            await File.WriteAllBytesAsync(Path.Combine(BackupDirectory, name), [0x1f, 0x8b]);
        }

        var backup = await RunCommandAsync("postgres", "backup");

        Assert.True(backup.Success, backup.Message);
        var kept = Directory.GetFiles(BackupDirectory, "cartrita_*.sql.gz").Select(Path.GetFileName).Order().ToList();
        Assert.Equal(TestStack.BackupsKept, kept.Count);
        Assert.DoesNotContain("cartrita_20200101_000000.sql.gz", kept);
        Assert.DoesNotContain("cartrita_20200102_000000.sql.gz", kept);
        Assert.Contains(kept, name => !old.Contains(name));
    }

    [Fact]
    public async Task Dashboard_reset_leaves_an_empty_fully_migrated_database()
    {
        await CreateProbeAsync();

        var reset = await RunCommandAsync("postgres", "reset-database");

        Assert.True(reset.Success, reset.Message);
        await AssertResetAsync();
    }

    [Fact]
    public async Task Terminal_reset_is_the_same_reset_as_the_dashboards()
    {
        await CreateProbeAsync();
        var dataDirectory = TestStack.CreateDataDirectory();
        new StackState
        {
            Database = OwnerConnectionString,
            DatabaseAdmin = await stack.App.GetConnectionStringAsync("cartrita"),
            Environment = "Development",
            AppHostProcessId = Environment.ProcessId,
        }.Write(dataDirectory);
        var worker = Path.Combine(RepositoryRoot, "Cartrita.MigrationService", "bin", "Debug", "net10.0", "Cartrita.MigrationService.dll");

        var (exitCode, output) = await RunAsync("dotnet",
            [OperationsTool, "reset", "--data-dir", dataDirectory, "--migrations-worker", worker]);

        Assert.True(exitCode == 0, output);
        Assert.Contains("Database reset: recreated empty and migrated", output);
        await AssertResetAsync();
        TestStack.DeleteDataDirectory(dataDirectory);
    }

    private Task CreateProbeAsync() => ExecuteAsync("""
        CREATE TABLE IF NOT EXISTS ops_probe (id int PRIMARY KEY, payload text NOT NULL, embedding vector(3) NOT NULL);
        INSERT INTO ops_probe VALUES (7, 'gone after a reset', '[7,7,7]') ON CONFLICT (id) DO NOTHING;
        """);

    /// <summary>No table of before the reset, every migration applied, and the orchestrator serving on the new database.</summary>
    private async Task AssertResetAsync()
    {
        // The reset ended every session on the old database, our pooled ones too.
        NpgsqlConnection.ClearAllPools();
        await using var connection = await OpenAsync();
        await using var probe = new NpgsqlCommand("SELECT to_regclass('public.ops_probe') IS NULL AND to_regclass('public.memories') IS NOT NULL", connection);
        Assert.True((bool)(await probe.ExecuteScalarAsync())!, "the reset kept the old tables or applied no schema");
        await using var history = new NpgsqlCommand("""SELECT count(*) FROM "__EFMigrationsHistory" """, connection);
        var migrations = Directory.GetFiles(Path.Combine(RepositoryRoot, "Cartrita.MigrationService", "Migrations"), "2*.cs")
            .Count(file => !file.EndsWith(".Designer.cs", StringComparison.Ordinal));
        Assert.Equal(migrations, (long)(await history.ExecuteScalarAsync())!);

        using var client = stack.App.CreateHttpClient("ai-orchestrator", "http");
        await WaitUntilAsync(async () => (await client.GetAsync("/health")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task Terminal_reset_refuses_outside_development()
    {
        var dataDirectory = TestStack.CreateDataDirectory();
        new StackState
        {
            Database = "Host=127.0.0.1;Port=1;Username=nobody;Password=unused;Database=cartrita",
            Environment = "Production",
            AppHostProcessId = Environment.ProcessId,
        }.Write(dataDirectory);

        var (exitCode, output) = await RunAsync("dotnet", [OperationsTool, "reset", "--data-dir", dataDirectory]);

        Assert.Equal(1, exitCode);
        Assert.Contains("Refused", output);
        Assert.Contains("Production", output);
        TestStack.DeleteDataDirectory(dataDirectory);
    }

    [Fact]
    public async Task Doctor_names_a_missing_component_with_its_fix()
    {
        var (exitCode, output) = await RunAsync("bash", [Path.Combine(RepositoryRoot, "cartrita"), "doctor", "--ports", "1"],
            ("CARTRITA_APT_EXTRA", "cartrita-missing-probe"));

        Assert.NotEqual(0, exitCode);
        Assert.Contains("cartrita-missing-probe", output);
        Assert.Contains("apt-get install", output);
    }

    [Fact]
    public async Task Doctor_reports_a_taken_port_with_its_owner()
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;

        var (exitCode, output) = await RunAsync("bash", [Path.Combine(RepositoryRoot, "cartrita"), "doctor", "--ports", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

        Assert.NotEqual(0, exitCode);
        Assert.Contains($"port {port} is taken by", output);
        Assert.Contains($"pid={Environment.ProcessId}", output);
    }

    private static byte[] TruncatedDump(byte[] gzip)
    {
        using var input = new GZipStream(new MemoryStream(gzip), CompressionMode.Decompress);
        using var sql = new MemoryStream();
        input.CopyTo(sql);
        var cut = sql.ToArray()[..(int)(sql.Length * 2 / 3)];
        using var output = new MemoryStream();
        using (var gzipOut = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzipOut.Write(cut);
        }
        return output.ToArray();
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"condition not met within {timeout}");
            await Task.Delay(250);
        }
    }

    private static Task<(int ExitCode, string Output)> RunAsync(string program, string[] arguments, params (string Name, string Value)[] environment) =>
        ChildProcess.RunAsync(program, arguments, TimeSpan.FromSeconds(60), environment.Select(e => KeyValuePair.Create(e.Name, e.Value)), RepositoryRoot);

    private static string FindRepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Cartrita.sln")))
        {
            directory = directory.Parent;
        }
        return directory?.FullName ?? throw new InvalidOperationException("Cartrita.sln not found above the test folder.");
    }
}
