using System.Security.Cryptography;
using System.Text;
using Cartrita.AppHost.Hosting.LocalProcesses;
using Microsoft.Extensions.Logging;

namespace Cartrita.AppHost.Hosting.Postgres;

/// <summary>
/// Prepares a local PostgreSQL data folder before the server starts: <c>initdb</c> the first time, and afterwards keeps
/// the superuser's name and password in step with the AppHost's parameters (they may be regenerated or changed), using
/// single-user mode so the password travels on standard input, never on a command line.
/// </summary>
internal sealed class PostgresCluster(PostgresBinaries binaries, ServiceAccount account, string dataDirectory, ILogger logger)
{
    private string CredentialsStampPath => Path.Combine(Path.GetDirectoryName(dataDirectory)!, $".{Path.GetFileName(dataDirectory)}.credentials");

    public async Task PrepareAsync(string userName, string password, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(dataDirectory);
        await account.TakeOwnershipAsync(dataDirectory, cancellationToken);
        if (!await account.CanReachAsync(dataDirectory, cancellationToken))
        {
            throw new DistributedApplicationException(
                $"PostgreSQL runs as the '{account.UserName}' OS user (it refuses root), and that user cannot write to '{dataDirectory}' " +
                $"because a parent folder is closed to it. Fix: `chmod o+x` each parent folder, or set Cartrita:DataDirectory to a folder it can reach.");
        }

        if (!File.Exists(Path.Combine(dataDirectory, "PG_VERSION")))
        {
            await InitializeAsync(userName, password, cancellationToken);
        }
        else if (await ReadStampAsync(cancellationToken) != Stamp(userName, password))
        {
            await SyncCredentialsAsync(userName, password, cancellationToken);
        }
        await File.WriteAllTextAsync(CredentialsStampPath, Stamp(userName, password), cancellationToken);
    }

    private async Task InitializeAsync(string userName, string password, CancellationToken cancellationToken)
    {
        logger.LogInformation("Creating a new PostgreSQL cluster in {DataDirectory}", dataDirectory);

        // initdb reads the password from a file; keep it inside the (private) data folder's parent and delete it at once.
        var passwordFile = Path.Combine(Path.GetDirectoryName(dataDirectory)!, $".initdb-{Guid.NewGuid():N}");
        await PrivateFile.WriteAsync(passwordFile, password, cancellationToken);
        try
        {
            await account.TakeOwnershipAsync(passwordFile, cancellationToken);
            var result = await CommandLine.RunAsync(
                account.Command(binaries.InitDb),
                account.Arguments(binaries.InitDb,
                [
                    "--pgdata", dataDirectory, "--username", userName, $"--pwfile={passwordFile}",
                    "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-instructions",
                ]),
                onOutput: line => logger.LogInformation("{Line}", line),
                timeout: TimeSpan.FromMinutes(2),
                cancellationToken: cancellationToken);
            if (!result.Succeeded)
            {
                throw new DistributedApplicationException($"initdb failed for '{dataDirectory}' (exit {result.ExitCode}):\n{result.Output}");
            }
        }
        finally
        {
            File.Delete(passwordFile);
        }
    }

    private async Task SyncCredentialsAsync(string userName, string password, CancellationToken cancellationToken)
    {
        logger.LogInformation("Updating the PostgreSQL superuser '{User}' to match the AppHost parameters", userName);

        // The bootstrap superuser (OID 10) always exists; make sure our user exists as a superuser and takes the password.
        var role = QuoteIdentifier(userName);
        var script = new StringBuilder()
            .AppendLine($"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {QuoteLiteral(userName)}) THEN CREATE ROLE {role} SUPERUSER LOGIN; END IF; END$$;")
            .AppendLine($"ALTER ROLE {role} WITH SUPERUSER LOGIN PASSWORD {QuoteLiteral(password)};")
            .ToString();
        var result = await CommandLine.RunAsync(
            account.Command(binaries.Postgres),
            account.Arguments(binaries.Postgres, ["--single", "-D", dataDirectory, "-c", "log_statement=none", "postgres"]),
            standardInput: script,
            timeout: TimeSpan.FromMinutes(1),
            cancellationToken: cancellationToken);
        if (!result.Succeeded || result.Output.Contains("ERROR:", StringComparison.Ordinal))
        {
            // The script holds the password: report the server's words without echoing the input.
            throw new DistributedApplicationException(
                $"Could not update the PostgreSQL superuser in '{dataDirectory}' (exit {result.ExitCode}). " +
                $"Is another PostgreSQL using this folder? Server said:\n{Redact(result.Output, password)}");
        }
    }

    private async Task<string?> ReadStampAsync(CancellationToken cancellationToken) =>
        File.Exists(CredentialsStampPath) ? await File.ReadAllTextAsync(CredentialsStampPath, cancellationToken) : null;

    // A one-way fingerprint, so a changed user or password is noticed without keeping the password on disk.
    private static string Stamp(string userName, string password) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{userName}\n{password}")));

    private static string QuoteIdentifier(string value) => $"\"{value.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";

    private static string QuoteLiteral(string value) => $"'{value.Replace("'", "''", StringComparison.Ordinal)}'";

    private static string Redact(string text, string secret) =>
        string.IsNullOrEmpty(secret) ? text : text.Replace(secret, "***", StringComparison.Ordinal);
}
