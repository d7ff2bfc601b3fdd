using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Npgsql;

namespace Cartrita.Data.Tests;

/// <summary>
/// A throwaway PostgreSQL 15 + pgvector server for the test run: <c>initdb</c> into a temporary directory, then
/// <c>postgres</c> on a free loopback port with password authentication and no Unix socket. Run as the
/// <c>postgres</c> user when the tests run as root (PostgreSQL refuses root). Disposing stops it with SIGINT (fast
/// shutdown) and deletes the directory. Each test takes its own database from <see cref="CreateDatabaseAsync"/>.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private const string Superuser = "postgres";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);

    private readonly string _password = Convert.ToHexString(Guid.NewGuid().ToByteArray());
    private readonly StringBuilder _log = new();
    private DirectoryInfo? _root;
    private Process? _postgres;

    public int Port { get; private set; }

    /// <summary>The server's log so far (for failure messages).</summary>
    public string Log
    {
        get { lock (_log) { return _log.ToString(); } }
    }

    /// <summary>A connection string for <paramref name="database"/> as the superuser.</summary>
    public string ConnectionString(string database = "postgres") => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = Superuser,
        Password = _password,
        Database = database,
        Pooling = false,
        Timeout = 10,
    }.ConnectionString;

    /// <summary>Creates an empty database with a unique name and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "test_" + Guid.NewGuid().ToString("N")[..12];
        await using var connection = new NpgsqlConnection(ConnectionString());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await command.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    public async Task InitializeAsync()
    {
        var binDirectory = Environment.GetEnvironmentVariable("CARTRITA_PG_BIN") ?? "/usr/lib/postgresql/15/bin";
        var initdb = Path.Combine(binDirectory, "initdb");
        var postgres = Path.Combine(binDirectory, "postgres");
        if (!File.Exists(initdb) || !File.Exists(postgres))
        {
            throw new InvalidOperationException(
                $"PostgreSQL 15 server binaries not found in {binDirectory} (set CARTRITA_PG_BIN, or run eng/install.sh apt pgvector)");
        }

        var asRoot = Native.geteuid() == 0;
        _root = Directory.CreateTempSubdirectory("cartrita-data-tests-");
        var dataDirectory = Path.Combine(_root.FullName, "data");
        var passwordFile = Path.Combine(_root.FullName, "pwfile");
        await File.WriteAllTextAsync(passwordFile, _password + "\n");
        if (asRoot && !OperatingSystem.IsWindows())
        {
            // CreateTempSubdirectory makes 0700 directories: let the postgres user in, and own the tree.
            _root.UnixFileMode |= UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
            await RunToCompletionAsync("chown", ["-R", "postgres:postgres", _root.FullName], asPostgres: false);
        }

        await RunToCompletionAsync(initdb,
            ["-D", dataDirectory, "-U", Superuser, $"--pwfile={passwordFile}", "--auth=scram-sha-256", "-E", "UTF8",
             "--locale=C", "--no-sync", "--no-instructions"],
            asRoot);

        Port = GetFreePort();
        _postgres = Start(postgres,
            ["-D", dataDirectory, "-p", Port.ToString(), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
             // A throwaway cluster: durability off, fewer connections' worth of memory.
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=50"],
            asRoot);

        await WaitUntilReadyAsync();
    }

    public async Task DisposeAsync()
    {
        if (_postgres is { } postgres)
        {
            try
            {
                if (!postgres.HasExited)
                {
                    // SIGINT = fast shutdown: disconnect clients, stop cleanly, children exit with the postmaster.
                    Native.kill(postgres.Id, Native.SIGINT);
                    using var timeout = new CancellationTokenSource(StopTimeout);
                    try
                    {
                        await postgres.WaitForExitAsync(timeout.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        postgres.Kill(entireProcessTree: true);
                        await postgres.WaitForExitAsync();
                    }
                }
            }
            finally
            {
                postgres.Dispose();
            }
        }

        try
        {
            _root?.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp directory left behind is harmless.
        }
    }

    private async Task WaitUntilReadyAsync()
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (_postgres!.HasExited)
            {
                throw new InvalidOperationException($"postgres exited with code {_postgres.ExitCode} while starting:\n{Log}");
            }

            try
            {
                await using var connection = new NpgsqlConnection(ConnectionString());
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'", connection);
                if ((long)(await command.ExecuteScalarAsync())! == 0)
                {
                    throw new InvalidOperationException("the pgvector extension is not installed for PostgreSQL 15 (run eng/install.sh pgvector)");
                }

                return;
            }
            catch (NpgsqlException) when (deadline.Elapsed < StartTimeout)
            {
                await Task.Delay(100);
            }
            catch (NpgsqlException ex)
            {
                throw new TimeoutException($"postgres did not accept connections within {StartTimeout}:\n{Log}", ex);
            }
        }
    }

    private Process Start(string fileName, IReadOnlyList<string> arguments, bool asPostgres)
    {
        var process = new Process { StartInfo = CreateStartInfo(fileName, arguments, asPostgres) };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private async Task RunToCompletionAsync(string fileName, IReadOnlyList<string> arguments, bool asPostgres)
    {
        using var process = Start(fileName, arguments, asPostgres);
        using var timeout = new CancellationTokenSource(StartTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} did not finish within {StartTimeout}:\n{Log}");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{fileName} exited with code {process.ExitCode}:\n{Log}");
        }
    }

    // When root, exec through setpriv (not runuser/su) so the process we hold, and signal, is postgres itself.
    private static ProcessStartInfo CreateStartInfo(string fileName, IReadOnlyList<string> arguments, bool asPostgres)
    {
        var startInfo = new ProcessStartInfo
        {
            FileName = asPostgres ? "setpriv" : fileName,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        if (asPostgres)
        {
            foreach (var argument in (string[])["--reuid=postgres", "--regid=postgres", "--init-groups", "--", fileName])
            {
                startInfo.ArgumentList.Add(argument);
            }
        }

        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        startInfo.Environment["LC_ALL"] = "C";
        return startInfo;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.AppendLine(line);
        }
    }

    /// <summary>A loopback port that nothing listens on right now.</summary>
    public static int GetFreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static class Native
    {
        public const int SIGINT = 2;

        [DllImport("libc", SetLastError = true)]
        public static extern int kill(int pid, int sig);

        [DllImport("libc")]
        public static extern uint geteuid();
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "postgres";
}
