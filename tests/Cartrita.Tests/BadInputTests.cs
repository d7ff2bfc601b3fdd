using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Cartrita.Tests;

/// <summary>Misconfiguration stops the AppHost quickly with a message that names the problem and its fix.</summary>
public sealed class BadInputTests
{
    private static readonly TimeSpan FailFast = TimeSpan.FromSeconds(60);

    private static string AllMessages(Exception exception) =>
        string.Join(" | ", Flatten(exception).Select(e => e.Message));

    private static IEnumerable<Exception> Flatten(Exception exception) =>
        exception is AggregateException aggregate
            ? aggregate.InnerExceptions.SelectMany(Flatten).Prepend(exception)
            : exception.InnerException is { } inner ? Flatten(inner).Prepend(exception) : [exception];

    /// <summary>Builds and starts the AppHost, expecting failure; returns every message and how long it took.</summary>
    private static async Task<(string Messages, TimeSpan Elapsed)> StartExpectingFailureAsync(string dataDirectory, params string[] args)
    {
        var watch = Stopwatch.StartNew();
        using var timeout = new CancellationTokenSource(FailFast);
        var failure = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Cartrita_AppHost>(
                TestStack.ProcessesModeArgs(dataDirectory, args), timeout.Token);
            await using var app = await builder.BuildAsync(timeout.Token);
            await app.StartAsync(timeout.Token);
        });
        Assert.IsNotType<OperationCanceledException>(failure);
        return (AllMessages(failure), watch.Elapsed);
    }

    [Fact]
    public async Task Short_jwt_secret_is_refused_naming_the_parameter()
    {
        var (messages, _) = await StartExpectingFailureAsync(TestStack.CreateDataDirectory(), "--Parameters:jwt-secret=too-short-secret");

        Assert.Contains("jwt-secret", messages);
        Assert.Contains("32", messages);
    }

    [Fact]
    public async Task Taken_port_is_reported_with_its_owner_and_nothing_starts()
    {
        var dataDirectory = TestStack.CreateDataDirectory();
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;

        var (messages, _) = await StartExpectingFailureAsync(dataDirectory, $"--Cartrita:Ports:Redis={port}");

        Assert.Contains($"port {port} (redis)", messages);
        Assert.Contains($"PID {Environment.ProcessId}", messages);
        // Nothing was half-started: no server ever prepared its data folder.
        Assert.Empty(Directory.EnumerateFileSystemEntries(dataDirectory));
        TestStack.DeleteDataDirectory(dataDirectory);
    }

    [Fact]
    public async Task Missing_redis_server_and_pgvector_are_named_with_their_fix_within_seconds()
    {
        var dataDirectory = TestStack.CreateDataDirectory();
        var (messages, elapsed) = await StartExpectingFailureAsync(dataDirectory,
            "--Cartrita:Tools:RedisServer=/nonexistent/redis-server",
            "--Cartrita:Tools:PostgresBinDirectory=/nonexistent/postgresql/15/bin");

        Assert.Contains("redis-server (/nonexistent/redis-server)", messages);
        Assert.Contains("PostgreSQL 15 server", messages);
        Assert.Contains("pgvector", messages);
        Assert.Contains("eng/install.sh", messages);
        Assert.True(elapsed < TimeSpan.FromSeconds(30), $"took {elapsed}");
        Assert.Empty(Directory.EnumerateFileSystemEntries(dataDirectory));
        TestStack.DeleteDataDirectory(dataDirectory);
    }

    [Fact]
    public async Task Containers_mode_needs_a_container_runtime_that_answers()
    {
        var runtimeAnswers = (await Task.WhenAll(
            RunsAsync("docker", "info"), RunsAsync("podman", "info"))).Any(ok => ok);
        var args = TestStack.ProcessesModeArgs(Path.GetTempPath(), "--Cartrita:Infrastructure=containers");

        if (runtimeAnswers)
        {
            await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Cartrita_AppHost>(args);
            Assert.IsType<PostgresServerResource>(Assert.Single(builder.Resources, r => r.Name == "postgres"));
            return;
        }

        var failure = await Assert.ThrowsAnyAsync<Exception>(() =>
            DistributedApplicationTestingBuilder.CreateAsync<Projects.Cartrita_AppHost>(args));
        var messages = AllMessages(failure);
        Assert.Contains("no container runtime answers", messages);
        Assert.Contains("Cartrita:Infrastructure=processes", messages);
    }

    private static async Task<bool> RunsAsync(string program, string argument)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(program, argument) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
