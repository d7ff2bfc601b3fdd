using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using Cartrita.Operations.Stack;
using Npgsql;

namespace Cartrita.Tests;

/// <summary>Backup, restore, reset and doctor against the real stack (PostgreSQL + pgvector as a local process).</summary>
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

    private async Task<NpgsqlConnection> OpenAsync()
    {
        var connection = new NpgsqlConnection(await stack.App.GetConnectionStringAsync("cartrita"));
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
        var badPath = Path.Combine(BackupDirectory, "cartrita_29991231_235959.sql.gz"); // sorts newest: "latest"
        await File.WriteAllBytesAsync(badPath, damaged);
        try
        {
            var restore = await RunCommandAsync("postgres", "restore-latest");

            Assert.False(restore.Success);
            Assert.Contains("Nothing was restored", restore.Message);
            Assert.Equal(before, await SnapshotAsync());
        }
        finally
        {
            File.Delete(badPath);
        }
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
            Database = await stack.App.GetConnectionStringAsync("cartrita"),
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
