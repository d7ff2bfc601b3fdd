using System.Security.Cryptography;
using System.Text;
using Cartrita.Tests.Reliability;

namespace Cartrita.Tests.Security;

/// <summary>
/// Issue 17, item 8: what the local servers keep on disk is the owner's alone. Before, Redis's append-only files were
/// 0644 and the PostgreSQL credentials stamp (an unsalted SHA-256 of user and password, so a guessable password could be
/// checked offline) was 0644 beside the data folder.
/// </summary>
[Collection(StackCollection.Name)]
[Trait("Category", "Security")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")] // file modes; the stack runs on Linux
public sealed class DataFileModeTests(StackFixture stack)
{
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [Fact]
    public void Redis_files_are_0600_in_0700_folders()
    {
        var redis = Path.Combine(stack.DataDirectory, "redis");

        // appendonly yes: Redis 7 keeps its base RDB, incremental AOF and manifest under appendonlydir/ from the start.
        var files = Directory.GetFiles(redis, "*", SearchOption.AllDirectories);
        Assert.Contains(files, file => file.Contains("appendonlydir", StringComparison.Ordinal));
        Assert.All(files, file => Assert.True(File.GetUnixFileMode(file) == OwnerOnlyFile, $"{file} is {File.GetUnixFileMode(file)}"));
        Assert.All(Directory.GetDirectories(redis, "*", SearchOption.AllDirectories).Append(redis),
            folder => Assert.True(File.GetUnixFileMode(folder) == OwnerOnlyFolder, $"{folder} is {File.GetUnixFileMode(folder)}"));
    }

    [Fact]
    public async Task The_postgres_credentials_stamp_is_salted_and_owner_only_inside_the_data_folder()
    {
        var data = Path.Combine(stack.DataDirectory, "postgres");
        var stamp = Path.Combine(data, "postgres-server.credentials");

        Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(data));
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(stamp));
        Assert.False(File.Exists(Path.Combine(stack.DataDirectory, ".postgres.credentials")), "the old unsalted stamp is still beside the data folder");

        // salt:hash, where the hash is not the old unsalted fingerprint of user and password.
        var parts = (await File.ReadAllTextAsync(stamp)).Trim().Split(':');
        Assert.Equal(2, parts.Length);
        Assert.Matches("^[0-9a-f]{32}$", parts[0]);
        var user = await OrchestratorApi.ParameterAsync(stack.App, "postgres-user");
        var password = await OrchestratorApi.ParameterAsync(stack.App, "postgres-password");
        var unsalted = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{user}\n{password}")));
        Assert.NotEqual(unsalted, parts[1], StringComparer.OrdinalIgnoreCase);
        // The hash covers the salt (eng/local-servers/postgres-server: salt, user and password, NUL-separated).
        var salted = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{parts[0]}\0{user}\0{password}")));
        Assert.Equal(salted, parts[1], StringComparer.OrdinalIgnoreCase);
        Assert.DoesNotContain(password, await File.ReadAllTextAsync(stamp), StringComparison.Ordinal);
    }

    /// <summary>Also the aside: `./cartrita logs` exported empty per-resource files (0 bytes).</summary>
    [Fact]
    public void Resource_logs_are_0600_in_a_0700_folder_and_hold_each_process_console()
    {
        var logs = Path.Combine(stack.DataDirectory, "logs");

        Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(logs));
        var files = Directory.GetFiles(logs, "*.log");
        Assert.All(files, file => Assert.True(File.GetUnixFileMode(file) == OwnerOnlyFile, $"{file} is {File.GetUnixFileMode(file)}"));
        foreach (var process in new[] { "postgres", "redis", "migrations", "ai-orchestrator", "frontend" })
        {
            var file = new FileInfo(Path.Combine(logs, $"{process}.log"));
            Assert.True(file.Exists && file.Length > 0, $"{file.FullName} is missing or empty");
        }
    }
}
