using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Npgsql;

namespace Cartrita.Data.Tests;

/// <summary>
/// A throwaway PostgreSQL 15 + pgvector server for the test run, started by the repository's launcher
/// (<c>eng/local-servers/postgres-server</c>, the one the AppHost runs) on a free loopback port with its data in a
/// temporary folder; as root the launcher runs it as the <c>postgres</c> OS user. Disposing stops it with SIGINT (fast
/// shutdown) and deletes the folder. Each test takes its own database from <see cref="CreateDatabaseAsync"/>.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private const string Superuser = "postgres";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);

    private readonly string _password = Convert.ToHexString(Guid.NewGuid().ToByteArray());
    private readonly ConcurrentQueue<string> _log = new();
    private DirectoryInfo? _root;
    private Process? _postgres;

    public int Port { get; private set; }

    /// <summary>The launcher's and the server's output so far (for failure messages).</summary>
    public string Log => string.Join('\n', _log);

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
        _root = Directory.CreateTempSubdirectory("cartrita-data-tests-");
        if (!OperatingSystem.IsWindows())
        {
            // Temporary folders are born 0700: the postgres OS user (when we are root) must reach the data folder inside.
            _root.UnixFileMode |= UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        }
        Port = GetFreePort();

        // The launcher's contract (eng/local-servers/README.md); POSTGRES_BIN, when set, comes from our environment.
        var launcher = new ProcessStartInfo(Path.Combine(SchemaScriptTests.Root, "eng", "local-servers", "postgres-server"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _root.FullName,
            Environment =
            {
                ["PGDATA"] = Path.Combine(_root.FullName, "data"),
                ["PGPORT"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["POSTGRES_USER"] = Superuser,
                ["POSTGRES_PASSWORD"] = _password,
                ["POSTGRES_INITDB_ARGS"] = "--no-sync",
            },
            // A throwaway cluster: durability off, fewer connections' worth of memory.
            ArgumentList = { "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=50" },
        };
        _postgres = new Process { StartInfo = launcher };
        _postgres.OutputDataReceived += (_, e) => Collect(e.Data);
        _postgres.ErrorDataReceived += (_, e) => Collect(e.Data);
        _postgres.Start();
        _postgres.BeginOutputReadLine();
        _postgres.BeginErrorReadLine();

        await WaitUntilReadyAsync();
    }

    public async Task DisposeAsync()
    {
        if (_postgres is { } postgres)
        {
            // The launcher execs postgres: SIGINT reaches the server itself (fast shutdown; its backends exit with it).
            if (!postgres.HasExited && kill(postgres.Id, SIGINT) == 0)
            {
                using var timeout = new CancellationTokenSource(StopTimeout);
                try
                {
                    await postgres.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    // Killed below.
                }
            }
            if (!postgres.HasExited)
            {
                postgres.Kill(entireProcessTree: true);
                await postgres.WaitForExitAsync();
            }
            postgres.Dispose();
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

    private void Collect(string? line)
    {
        if (line is not null)
        {
            _log.Enqueue(line);
        }
    }

    private async Task WaitUntilReadyAsync()
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (_postgres!.HasExited)
            {
                // The launcher's last line names the problem and its fix.
                throw new InvalidOperationException($"postgres-server exited with code {_postgres.ExitCode} while starting:\n{Log}");
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

    /// <summary>A loopback port that nothing listens on right now.</summary>
    public static int GetFreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private const int SIGINT = 2;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "postgres";
}
