using System.IO.Compression;
using Cartrita.Publishing.Deployment;

namespace Cartrita.Publishing.Tests;

/// <summary>
/// backup.sh itself, run by /bin/sh with stand-ins for pg_dump and psql on PATH: complete files under their final names
/// only, owner-only, each with its checksum, retention, the password reaching libpq through a pgpass file only, and
/// restore refusing a damaged, altered or crafted file (psql meta-commands) before it touches the server, the
/// scratch-database-then-swap order. The stand-ins test the script's logic; pg_dump and psql themselves run against a
/// real server in tests/Cartrita.Tests (OperationsTests).
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
            printf '%s\n' '--' '-- PostgreSQL database dump' '--' '' '\restrict Dump0Key9' '' 'SET statement_timeout = 0;' \
              'COMMENT ON EXTENSION "vector" IS '"'"'vector data type'"'"';' 'CREATE TABLE "t" ("a" "text");'
            if [ -n "${STUB_FAIL:-}" ]; then echo "pg_dump: error: connection lost" >&2; exit 7; fi
            printf '%s\n' 'COPY "public"."t" ("a") FROM stdin;' '\N' '\\! data, not a command' '\.' '' \
              '--' '-- PostgreSQL database dump complete' '--' '' '\unrestrict Dump0Key9'
            """);
        // psql: records every call; the database exists; a load (stdin) is kept for inspection.
        Stub("psql", """
            printf '%s\n' "$*" >> "$STUB_LOG/psql.log"
            case "$*" in
              *"--version"*) echo "psql (PostgreSQL) 15.13" ;;
              *"SELECT 1 FROM pg_database"*) echo 1 ;;
              *"--single-transaction -d "*) cat > "$STUB_LOG/loaded.sql"
                if [ -n "${STUB_OLD_PSQL:-}" ]; then printf '%s\n' 'psql:<stdin>:1: invalid command \restrict' >&2; exit 3; fi ;;
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

        var files = BackupFiles.Where(f => !f.EndsWith(".sha256", StringComparison.Ordinal)).ToArray();
        Assert.Equal(2, files.Length);
        Assert.Equal(files.Select(f => f + ".sha256"), BackupFiles.Where(f => f.EndsWith(".sha256", StringComparison.Ordinal)));
        Assert.All(files, f => Assert.Matches(BackupName(), f));
        var sql = Gunzip(Path.Combine(Backups, files[^1]));
        Assert.EndsWith("-- PostgreSQL database dump complete\n--\n\n\\unrestrict Dump0Key9\n", sql);
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
        Assert.Empty(BackupFiles); // not even a .partial or a checksum
    }

    [Fact]
    public void The_password_may_come_from_the_environment_as_in_Kubernetes_and_does_not_reach_pg_dump()
    {
        var result = Run(new() { ["BACKUP_PASSWORD"] = Password });

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal(2, BackupFiles.Length); // the backup and its checksum
    }

    [Fact]
    public void Each_backup_is_owner_only_in_an_owner_only_folder_with_a_checksum_sha256sum_accepts()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // POSIX modes
        }
        File.SetUnixFileMode(Backups, (UnixFileMode)0b111_111_111); // a new volume's root: the postgres image's is 1777

        var result = Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile });

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Backups));
        foreach (var file in BackupFiles)
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Backups, file)));
        }
        var check = Repo.Run("sha256sum", ["-c", BackupFiles.Single(f => f.EndsWith(".sha256", StringComparison.Ordinal))], Backups);
        Assert.True(check.ExitCode == 0, check.Output);
    }

    [Fact]
    public void Restore_refuses_a_file_that_changed_after_it_was_written_or_has_no_checksum_unless_told()
    {
        Assert.Equal(0, Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile }).ExitCode);
        var name = BackupFiles.Single(f => f.EndsWith(".sql.gz", StringComparison.Ordinal));
        var path = Path.Combine(Backups, name);
        var original = File.ReadAllBytes(path);
        var altered = (byte[])original.Clone();
        altered[^8] ^= 0x01; // one bit

        File.WriteAllBytes(path, altered);
        var mismatch = Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile }, "restore", name);
        File.WriteAllBytes(path, original);
        File.Delete(path + ".sha256");
        var missing = Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile }, "restore", name);

        Assert.NotEqual(0, mismatch.ExitCode);
        Assert.Contains("does not match its checksum", mismatch.Stderr);
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("has no checksum file", missing.Stderr);
        Assert.Contains("restore --no-verify", missing.Stderr);
        Assert.False(File.Exists(Path.Combine(Log, "psql.log")), "psql ran for a file that should have been refused");

        var unverified = Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile }, "restore", "--no-verify", name);
        Assert.True(unverified.ExitCode == 0, unverified.Output);
        Assert.Contains("restoring it unverified", unverified.Stdout);
    }

    /// <summary>
    /// The attack: a crafted backup whose psql meta-commands would run as the job's user before the load failed. Every one
    /// is refused before psql starts, nothing runs, and the file the command would create does not exist.
    /// </summary>
    [Trait("Category", "Security")]
    [Theory]
    [InlineData("\\! touch {0}", "\\!")]
    [InlineData("  \\! touch {0}", "\\!")]
    [InlineData("\\o |touch {0}", "\\o")]
    [InlineData("\\copy (SELECT 1) TO PROGRAM 'touch {0}'", "\\copy")]
    [InlineData("\\unrestrict Dump0Key9", "\\unrestrict")]
    [InlineData("\\restrict Another1", "\\restrict")]
    [InlineData("\\i /etc/passwd", "\\i")]
    public void Restore_refuses_psql_meta_commands_pg_dump_does_not_write_before_psql_runs(string injected, string command)
    {
        var marker = $"/tmp/pwned-{Guid.NewGuid():N}";
        var name = Crafted(string.Format(System.Globalization.CultureInfo.InvariantCulture, injected, marker));

        var result = Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile }, "restore", name);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains($"holds the psql meta-command {command},", result.Stderr);
        Assert.Contains("nothing was restored", result.Stderr);
        Assert.False(File.Exists(marker), "the injected command ran");
        Assert.False(File.Exists(Path.Combine(Log, "psql.log")), "psql ran for a file that should have been refused");
    }

    [Fact]
    public void Restore_refuses_statements_after_the_closing_unrestrict_and_a_dump_without_it()
    {
        var after = Crafted("", append: "SELECT 1;\n");
        var unclosed = Crafted("", removeUnrestrict: true);

        var afterResult = Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile }, "restore", after);
        var unclosedResult = Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile }, "restore", unclosed);

        Assert.Contains("has statements after pg_dump's closing \\unrestrict", afterResult.Stderr);
        Assert.Contains("closing \\unrestrict is missing", unclosedResult.Stderr);
        Assert.False(File.Exists(Path.Combine(Log, "psql.log")));
    }

    /// <summary>A backup as pg_dump writes it, with <paramref name="injected"/> as a line before its first statement, and its checksum.</summary>
    private string Crafted(string injected, string append = "", bool removeUnrestrict = false)
    {
        Assert.Equal(0, Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile }).ExitCode);
        var good = Directory.GetFiles(Backups, "*.sql.gz").Where(f => !Path.GetFileName(f).StartsWith("cartrita_2999", StringComparison.Ordinal)).Max(StringComparer.Ordinal)!;
        var sql = Gunzip(good).Replace("SET statement_timeout = 0;\n", (injected.Length > 0 ? injected + "\n" : "") + "SET statement_timeout = 0;\n", StringComparison.Ordinal) + append;
        if (removeUnrestrict)
        {
            sql = sql.Replace("\\unrestrict Dump0Key9\n", "", StringComparison.Ordinal);
        }
        var name = $"cartrita_29991231_{Random.Shared.Next(100000, 999999)}.sql.gz";
        var path = Path.Combine(Backups, name);
        using (var gzip = new GZipStream(File.Create(path), CompressionLevel.Optimal))
        {
            gzip.Write(System.Text.Encoding.UTF8.GetBytes(sql));
        }
        File.WriteAllText(path + ".sha256", $"{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)))}  {name}\n");
        return name;
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
        var good = File.ReadAllBytes(Path.Combine(Backups, BackupFiles.Single(f => f.EndsWith(".sql.gz", StringComparison.Ordinal))));
        File.WriteAllBytes(Path.Combine(Backups, "cartrita_20000101_000000.sql.gz"), good[..(good.Length / 2)]);
        using (var incomplete = new GZipStream(File.Create(Path.Combine(Backups, "cartrita_20000101_000001.sql.gz")), CompressionLevel.Optimal))
        {
            incomplete.Write("CREATE TABLE \"t\" ();\n"u8);
        }
        // Damaged when written (the checksum was taken of the damaged file): the content checks still refuse them.
        foreach (var damaged in new[] { "cartrita_20000101_000000.sql.gz", "cartrita_20000101_000001.sql.gz" })
        {
            Assert.Equal(0, Repo.Run("sh", ["-c", $"sha256sum {damaged} > {damaged}.sha256"], Backups).ExitCode);
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
        var name = BackupFiles.Single(f => f.EndsWith(".sql.gz", StringComparison.Ordinal));

        var result = Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile }, "restore", name);

        Assert.True(result.ExitCode == 0, result.Output);
        // psql gets the dump under a \restrict of the restore's own (a fresh key the file cannot know) instead of pg_dump's
        // pair, without COMMENT ON EXTENSION (the template's extensions are the superuser's), COPY data untouched.
        var loaded = File.ReadAllText(Path.Combine(Log, "loaded.sql"));
        Assert.Matches("^\\\\restrict [0-9a-f]{48}\n", loaded);
        var dump = Gunzip(Path.Combine(Backups, name));
        Assert.Equal(
            dump.Replace("\\restrict Dump0Key9\n", "", StringComparison.Ordinal).Replace("\\unrestrict Dump0Key9\n", "", StringComparison.Ordinal)
                .Replace("COMMENT ON EXTENSION \"vector\" IS 'vector data type';\n", "", StringComparison.Ordinal),
            loaded[(loaded.IndexOf('\n', StringComparison.Ordinal) + 1)..]);
        Assert.Contains("\n\\N\n\\\\! data, not a command\n\\.\n", loaded);
        var calls = File.ReadAllLines(Path.Combine(Log, "psql.log"));
        Assert.Collection(calls,
            c => Assert.Matches("""-d postgres -c CREATE DATABASE "cartrita_restore_\d{14}" TEMPLATE "cartrita_template"$""", c),
            c => Assert.Matches("""-v ON_ERROR_STOP=1 --single-transaction -d cartrita_restore_\d{14}$""", c),
            c => Assert.Matches("""-d postgres -c REVOKE TEMPORARY ON DATABASE "cartrita_restore_\d{14}" FROM PUBLIC$""", c),
            c => Assert.Contains("SELECT 1 FROM pg_database WHERE datname = 'cartrita'", c),
            c => Assert.EndsWith("""ALTER DATABASE "cartrita" WITH ALLOW_CONNECTIONS false""", c),
            c =>
            {
                Assert.Contains("--single-transaction", c);
                Assert.Matches("""pg_terminate_backend.*RENAME TO "cartrita_before_restore_\d{14}".*ALTER DATABASE "cartrita_restore_\d{14}" RENAME TO "cartrita"$""", c);
            });
        Assert.Contains("the previous database is kept", result.Stdout);
    }

    [Fact]
    public void Restore_with_a_psql_too_old_for_restrict_fails_naming_it_and_drops_the_scratch_database()
    {
        Assert.Equal(0, Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile }).ExitCode);
        var name = BackupFiles.Single(f => f.EndsWith(".sql.gz", StringComparison.Ordinal));

        var result = Run(new() { ["BACKUP_PASSWORD_FILE"] = PasswordFile, ["STUB_OLD_PSQL"] = "1" }, "restore", name);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("is too old to restore safely", result.Stderr);
        Assert.Matches("""DROP DATABASE IF EXISTS "cartrita_restore_\d{14}"$""", File.ReadAllLines(Path.Combine(Log, "psql.log"))[^2]);
    }

    private ProcessResult Run(Dictionary<string, string> environment, params string[] args)
    {
        // A clean environment: only what the Compose service or the CronJob would set.
        List<string> variables =
        [
            $"PATH={Stubs}:/usr/bin:/bin",
            "PGHOST=postgres",
            "PGPORT=5432",
            "PGUSER=cartrita_owner",
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
