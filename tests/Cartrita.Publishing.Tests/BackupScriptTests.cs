using System.IO.Compression;
using Cartrita.Publishing.Deployment;

namespace Cartrita.Publishing.Tests;

/// <summary>
/// backup.sh itself, run by /bin/sh with stand-ins for pg_dump and psql on PATH: complete files under their final names
/// only, retention, the password reaching libpq through a pgpass file only, and restore refusing a damaged file before it
/// touches the server, the scratch-database-then-swap order. The stand-ins test the script's logic; pg_dump and psql
/// themselves do not run here.
/// </summary>
public sealed partial class BackupScriptTests : IDisposable
{
    private const string Password = @"pa:ss\word";

    private readonly string _root = Repo.TempDirectory();

    public BackupScriptTests()
    {
        Directory.CreateDirectory(Backups);
        Directory.CreateDirectory(Stubs);
        Directory.CreateDirectory(Log);
        File.WriteAllText(Script, BackupJob.Script);
        File.WriteAllText(PasswordFile, Password + "\n");
        // pg_dump: the password must come from the pgpass file (':' and '\' escaped), never from the environment.
        Stub("pg_dump", """
            if [ -n "${PGPASSWORD:-}" ] || [ -n "${BACKUP_PASSWORD:-}" ]; then echo "a password is in pg_dump's environment" >&2; exit 3; fi
            grep -qxF '*:*:*:*:pa\:ss\\word' "$PGPASSFILE" || { echo "the pgpass file is wrong" >&2; exit 4; }
            printf '%s\n' "$*" > "$STUB_LOG/pg_dump.args"
            echo 'CREATE TABLE "t" ();'
            if [ -n "${STUB_FAIL:-}" ]; then echo "pg_dump: error: connection lost" >&2; exit 7; fi
            echo '-- PostgreSQL database dump complete'
            """);
        // psql: records every call; the database exists; a load (stdin) is kept for inspection.
        Stub("psql", """
            printf '%s\n' "$*" >> "$STUB_LOG/psql.log"
            case "$*" in
              *"SELECT 1 FROM pg_database"*) echo 1 ;;
              *"--single-transaction -d "*) cat > "$STUB_LOG/loaded.sql" ;;
            esac
            """);
    }

    private string Backups => Path.Combine(_root, "backups");

    private string Stubs => Path.Combine(_root, "bin");

    private string Log => Path.Combine(_root, "log");

    private string Script => Path.Combine(_root, "backup.sh");

    private string PasswordFile => Path.Combine(_root, "postgres-password");

    private string[] BackupFiles => [.. Directory.GetFiles(Backups).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    [Fact]
    public void The_script_is_valid_POSIX_sh()
    {
        var result = Repo.Run("sh", ["-n", Script]);

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.StartsWith(PublishOutput.GeneratedMarker, File.ReadAllText(Path.Combine(Repo.Root, "deploy", "compose", "backup.sh")));
    }

    [Fact]
    public void A_backup_is_a_complete_gzip_under_its_final_name_and_only_the_newest_are_kept()
    {
        for (var i = 0; i < 3; i++)
        {
            var result = Run(new() { ["BACKUP_KEEP"] = "2", ["BACKUP_PASSWORD_FILE"] = PasswordFile });
            Assert.True(result.ExitCode == 0, result.Output);
        }

        var files = BackupFiles;
        Assert.Equal(2, files.Length);
        Assert.All(files, f => Assert.Matches(BackupName(), f));
        var sql = Gunzip(Path.Combine(Backups, files[^1]));
        Assert.EndsWith("-- PostgreSQL database dump complete\n", sql);
        Assert.Equal("--format=plain --no-owner --no-privileges --quote-all-identifiers\n", File.ReadAllText(Path.Combine(Log, "pg_dump.args")));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Backups, files[0])));
        }
        Assert.Equal(files, Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile }, "list").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Reverse());
    }

    [Fact]
    public void A_failing_pg_dump_leaves_no_file_behind()
    {
        var result = Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile, ["STUB_FAIL"] = "1" });

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("pg_dump failed (exit 7); no backup was written", result.Stderr);
        Assert.Empty(BackupFiles); // not even a .partial
    }

    [Fact]
    public void The_password_may_come_from_the_environment_as_in_Kubernetes_and_does_not_reach_pg_dump()
    {
        var result = Run(new() { ["BACKUP_PASSWORD"] = Password });

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Single(BackupFiles);
    }

    [Theory]
    [InlineData("x", "BACKUP_KEEP must be a whole number")]
    [InlineData("0", "BACKUP_KEEP must be at least 1")]
    public void A_bad_retention_is_refused(string keep, string message)
    {
        var result = Run(new() { ["BACKUP_KEEP"] = keep, ["BACKUP_PASSWORD_FILE"] = PasswordFile });

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains(message, result.Stderr);
        Assert.False(File.Exists(Path.Combine(Log, "pg_dump.args")));
    }

    [Fact]
    public void Restore_refuses_a_truncated_or_incomplete_file_before_touching_the_server()
    {
        Assert.Equal(0, Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile }).ExitCode);
        var good = File.ReadAllBytes(Path.Combine(Backups, BackupFiles.Single()));
        File.WriteAllBytes(Path.Combine(Backups, "cartrita_20000101_000000.sql.gz"), good[..(good.Length / 2)]);
        using (var incomplete = new GZipStream(File.Create(Path.Combine(Backups, "cartrita_20000101_000001.sql.gz")), CompressionLevel.Optimal))
        {
            incomplete.Write("CREATE TABLE \"t\" ();\n"u8);
        }

        foreach (var (file, message) in new[]
        {
            ("cartrita_20000101_000000.sql.gz", "is corrupt or truncated"),
            ("cartrita_20000101_000001.sql.gz", "does not end with pg_dump's completion marker"),
            ("cartrita_29991231_235959.sql.gz", "no backup"),
        })
        {
            var result = Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile }, "restore", file);
            Assert.NotEqual(0, result.ExitCode);
            Assert.Contains(message, result.Stderr);
        }
        Assert.False(File.Exists(Path.Combine(Log, "psql.log")), "psql ran for a file that should have been refused");
    }

    [Fact]
    public void Restore_loads_into_a_scratch_database_in_one_transaction_then_swaps_it_in()
    {
        Assert.Equal(0, Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile }).ExitCode);
        var name = BackupFiles.Single();

        var result = Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile }, "restore", name);

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal(Gunzip(Path.Combine(Backups, name)), File.ReadAllText(Path.Combine(Log, "loaded.sql")));
        var calls = File.ReadAllLines(Path.Combine(Log, "psql.log"));
        Assert.Collection(calls,
            c => Assert.Matches("""-d postgres -c CREATE DATABASE "cartrita_restore_\d{14}"$""", c),
            c => Assert.Matches("""-v ON_ERROR_STOP=1 --single-transaction -d cartrita_restore_\d{14}$""", c),
            c => Assert.Contains("SELECT 1 FROM pg_database WHERE datname = 'cartrita'", c),
            c => Assert.EndsWith("""ALTER DATABASE "cartrita" WITH ALLOW_CONNECTIONS false""", c),
            c =>
            {
                Assert.Contains("--single-transaction", c);
                Assert.Matches("""pg_terminate_backend.*RENAME TO "cartrita_before_restore_\d{14}".*ALTER DATABASE "cartrita_restore_\d{14}" RENAME TO "cartrita"$""", c);
            });
        Assert.Contains("the previous database is kept", result.Stdout);
    }

    private ProcessResult Run(Dictionary<string, string> environment, params string[] args)
    {
        // A clean environment: only what the Compose service or the CronJob would set.
        List<string> variables =
        [
            $"PATH={Stubs}:/usr/bin:/bin",
            "PGHOST=postgres",
            "PGPORT=5432",
            "PGUSER=robbie",
            "PGDATABASE=cartrita",
            $"BACKUP_DIR={Backups}",
            $"STUB_LOG={Log}",
            .. environment.Select(e => $"{e.Key}={e.Value}"),
        ];
        return Repo.Run("env", ["-i", .. variables, "sh", Script, .. args]);
    }

    private void Stub(string name, string body)
    {
        var path = Path.Combine(Stubs, name);
        File.WriteAllText(path, "#!/bin/sh\n" + body.ReplaceLineEndings("\n") + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    private static string Gunzip(string path)
    {
        using var input = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var reader = new StreamReader(input);
        return reader.ReadToEnd();
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^cartrita_\d{8}_\d{6}\.sql\.gz$")]
    private static partial System.Text.RegularExpressions.Regex BackupName();

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A temporary folder left behind is harmless.
        }
    }
}
