using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Cartrita.Tests.Reliability;
using Xunit.Abstractions;

namespace Cartrita.Tests.Terminal;

/// <summary>
/// What the terminal of a real AppHost run (<c>dotnet run</c>, as F5 and <c>./cartrita up</c> start it) says while the
/// stack starts: the states and the ready summary, or, for each fault a user meets, which resource failed and why within
/// 30 s, with a non-zero exit and nothing of the run left behind.
/// </summary>
[Collection(TerminalCollection.Name)]
public sealed class StartupTerminalTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dataDirectory = TestStack.CreateDataDirectory();

    /// <summary>The issue's bound: the terminal names the failed resource and the reason within this.</summary>
    public static readonly TimeSpan ReportedWithin = TimeSpan.FromSeconds(30);

    public void Dispose() => TestStack.DeleteDataDirectory(_dataDirectory);

    [Fact]
    public async Task A_healthy_start_prints_each_state_in_order_then_the_urls_and_its_stop_leaves_nothing()
    {
        var ports = StackPorts.Pick();
        await using var run = AppHostRun.Start(_dataDirectory, ports, new Dictionary<string, string>());
        var text = await TerminalOutput.WaitForAsync(run, "cartrita: ready in", AppHostLifecycleFixture.StartTimeout);
        output.WriteLine(text);

        // Each resource's states as they happened: the start order of the model, visible in the terminal.
        static string S(string resource, string state) => $"{resource.PadRight(16)} {state}";
        TerminalOutput.AssertInOrder(text,
            S("postgres", "Running"), S("postgres", "Healthy"),
            S("migrations", "Running"), S("migrations", "Finished (exit code 0)"),
            S("ai-orchestrator", "Running"), S("ai-orchestrator", "Healthy"), "cartrita: ready in");
        TerminalOutput.AssertInOrder(text, S("redis", "Running"), S("redis", "Healthy"), S("ai-orchestrator", "Running"));
        TerminalOutput.AssertInOrder(text, S("frontend", "Running"), S("frontend", "Healthy"), "cartrita: ready in");
        var summary = text[text.IndexOf("cartrita: ready in", StringComparison.Ordinal)..];
        Assert.Contains($"frontend        http://localhost:{ports.Frontend}", summary);
        Assert.Contains($"ai-orchestrator http://localhost:{ports.Orchestrator}", summary);
        Assert.Matches($@"dashboard +http://127\.0\.0\.1:{ports.Dashboard}/login\?t=[0-9a-f]+", summary);
        // Aspire's own startup lines and the health checks' failures while starting stay out of the terminal.
        Assert.DoesNotContain("info: ", text);
        Assert.DoesNotContain("fail: ", text);

        await run.StopAsync(TimeSpan.FromSeconds(60));
        TerminalOutput.AssertNothingLeft(_dataDirectory, ports);
    }

    [Fact]
    public async Task A_resource_that_exits_at_start_is_named_with_its_exit_code_and_last_words_and_the_run_ends_1()
    {
        // A redis-server that cannot start: it says why on stderr and exits 3, as a real one does with a bad config;
        // and it echoes that config, which holds the password: the terminal must not show it.
        const string password = "the-redis-password-of-this-test-0123456789";
        var redis = await TerminalOutput.WriteScriptAsync(_dataDirectory, "broken-redis-server",
            "echo \"FATAL CONFIG FILE ERROR: cannot read $1 (the test's broken redis)\" >&2\ncat \"$1\" >&2\nexit 3");
        var (text, _, exitCode, ports) = await TerminalOutput.RunUntilFailureAsync(output, _dataDirectory, "redis",
            $"--Cartrita:Tools:RedisServer={redis}", $"--Parameters:redis-password={password}");

        Assert.DoesNotContain(password, text);
        Assert.Contains("| requirepass \"***\"", text);
        Assert.DoesNotContain(password, await File.ReadAllTextAsync(Path.Combine(_dataDirectory, "logs", "redis.log")));
        Assert.Contains("cartrita: redis failed: it exited with code 3", text);
        Assert.Contains("why: FATAL CONFIG FILE ERROR: cannot read", text);
        Assert.Contains("| FATAL CONFIG FILE ERROR: cannot read", text);
        Assert.Contains("cartrita: stopping the stack (exit code 1)", text);
        Assert.Equal(1, exitCode);
        // PostgreSQL had started beside it: it is gone by the time the AppHost has exited.
        TerminalOutput.AssertNothingLeft(_dataDirectory, ports);
    }

    [Fact]
    public async Task A_resource_that_fails_to_start_is_named_with_the_launchers_reason()
    {
        // PostgreSQL's data folder cannot be created: a file is in its place.
        await File.WriteAllTextAsync(Path.Combine(_dataDirectory, "postgres"), "not a folder");
        var (text, _, exitCode, ports) = await TerminalOutput.RunUntilFailureAsync(output, _dataDirectory, "postgres");

        Assert.Contains("cartrita: postgres failed: it exited with code 1", text);
        // eng/local-servers/postgres-server's own reason and fix, split.
        Assert.Matches($"why: postgres-server: cannot create the data folder '{System.Text.RegularExpressions.Regex.Escape(Path.Combine(_dataDirectory, "postgres"))}'", text);
        Assert.Contains("fix: move away what stands in its place", text);
        TerminalOutput.AssertNoStackTrace(text);
        Assert.Equal(1, exitCode);
        TerminalOutput.AssertNothingLeft(_dataDirectory, ports);
        // The resource's console was written to its log file from the first line.
        Assert.Contains("postgres-server: cannot create the data folder", await File.ReadAllTextAsync(Path.Combine(_dataDirectory, "logs", "postgres.log")));
    }

    [Fact]
    public async Task A_resource_that_never_turns_healthy_is_reported_at_its_limit_with_its_last_lines()
    {
        // A redis-server that runs but never answers: its health check fails until the limit.
        var redis = await TerminalOutput.WriteScriptAsync(_dataDirectory, "silent-redis-server", "echo 'listening, honestly'\nexec sleep 600");
        var (text, _, exitCode, ports) = await TerminalOutput.RunUntilFailureAsync(output, _dataDirectory, "redis",
            $"--Cartrita:Tools:RedisServer={redis}", "--Cartrita:Startup:TimeoutSeconds=8");

        // Reported at its limit, counted from its own start (the state lines carry the seconds since the AppHost began).
        var running = TerminalOutput.SecondsOf(text, "redis", "Running");
        var reported = TerminalOutput.SecondsOf(text, "redis", "Failed");
        Assert.InRange(reported - running, 8.0, 20.0);
        Assert.Contains("cartrita: redis failed: it is running but not healthy after 8 s", text);
        Assert.Contains("| listening, honestly", text);
        Assert.Contains("--Cartrita:Startup:TimeoutSeconds=", text);
        Assert.Equal(1, exitCode);
        Assert.Empty(ProcessTable.Mentioning(redis));
        TerminalOutput.AssertNothingLeft(_dataDirectory, ports);
    }

    [Fact]
    public async Task An_occupied_port_is_one_message_without_a_stack_trace_and_exit_2()
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;
        var ports = StackPorts.Pick() with { Postgres = port };
        await using var run = AppHostRun.Start(_dataDirectory, ports, new Dictionary<string, string>());
        var text = await TerminalOutput.WaitForExitAsync(run, ReportedWithin);
        output.WriteLine(text);

        Assert.Contains($"cartrita: Cannot start: ports Cartrita needs are in use.\n  - port {port} (postgres) is taken by PID {Environment.ProcessId}", text.ReplaceLineEndings("\n"));
        Assert.Contains("--Cartrita:Ports:Postgres=5433", text);
        TerminalOutput.AssertNoStackTrace(text);
        Assert.Equal(2, run.ExitCode);
        Assert.False(Directory.Exists(Path.Combine(_dataDirectory, "postgres")), "a server prepared its data folder although the start was refused");
    }

    [Fact]
    public async Task A_short_password_is_one_message_without_a_stack_trace_and_exit_2()
    {
        var ports = StackPorts.Pick();
        await using var run = AppHostRun.Start(_dataDirectory, ports, new Dictionary<string, string>(), "--Parameters:jwt-secret=twenty-characters-xx");
        var text = await TerminalOutput.WaitForExitAsync(run, ReportedWithin);
        output.WriteLine(text);

        Assert.Contains("cartrita: Parameter 'jwt-secret' is too short: it must be at least 32 characters, the configured value has 20.", text);
        Assert.Contains("Parameters__jwt-secret", text);
        Assert.DoesNotContain("twenty-characters-xx", text);
        TerminalOutput.AssertNoStackTrace(text);
        Assert.Equal(2, run.ExitCode);
    }

    [Fact]
    public async Task A_setting_that_cannot_be_read_is_one_message_naming_it_and_exit_2()
    {
        await using var run = AppHostRun.Start(_dataDirectory, StackPorts.Pick(), new Dictionary<string, string>(), "--Cartrita:Startup:TimeoutSeconds=soon");
        var text = await TerminalOutput.WaitForExitAsync(run, ReportedWithin);
        output.WriteLine(text);

        Assert.Contains("cartrita: Cannot start: Failed to convert configuration value 'soon' at 'Cartrita:Startup:TimeoutSeconds'", text);
        TerminalOutput.AssertNoStackTrace(text);
        Assert.Equal(2, run.ExitCode);
    }
}

/// <summary>The faults of containers mode: an image no registry gives, a volume initialized with another password.</summary>
[Collection(ContainersModeCollection.Name)]
public sealed class ContainersStartupTerminalTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _dataDirectory = TestStack.CreateDataDirectory();

    private readonly string _volumePrefix = $"cartrita-term-{Guid.NewGuid():N}"[..22];

    private string PostgresVolume => $"{_volumePrefix}-postgres-data";

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await DockerEngine.CleanUpAsync(null, PostgresVolume, $"{_volumePrefix}-redis-data");
        TestStack.DeleteDataDirectory(_dataDirectory);
    }

    [ContainersFact]
    public async Task An_image_that_cannot_be_pulled_is_named_with_the_fix_within_seconds_and_nothing_starts()
    {
        await DockerEngine.RequireAsync();
        var clock = Stopwatch.StartNew();
        await using var run = AppHostRun.Start(_dataDirectory, StackPorts.Pick(), new Dictionary<string, string>(),
            "--Cartrita:Infrastructure=containers", $"--Cartrita:Containers:VolumePrefix={_volumePrefix}",
            // No such registry: the engine has no image under these names and cannot pull one.
            "--Cartrita:Containers:Registry=registry.invalid");
        var text = await TerminalOutput.WaitForExitAsync(run, StartupTerminalTests.ReportedWithin);
        output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0}s\n{text}");

        Assert.Contains("cartrita: Cannot start: docker has no image for some containers, and could not pull it.", text);
        Assert.Contains($"  - postgres: registry.invalid/{CartritaInfrastructureExtensions.PostgresImage}:{CartritaInfrastructureExtensions.PostgresImageTag}: ", text);
        Assert.Contains($"  - redis: registry.invalid/library/redis:{CartritaInfrastructureExtensions.RedisImageTag}: ", text);
        Assert.Contains("eng/containers/base-images.sh docker", text);
        Assert.Contains("--Cartrita:Infrastructure=processes", text);
        TerminalOutput.AssertNoStackTrace(text);
        Assert.Equal(2, run.ExitCode);
        Assert.Empty(await DockerEngine.LinesAsync("ps", "-a", "--filter", $"volume={PostgresVolume}", "--format", "{{.Names}}"));
    }
    [ContainersFact]
    public async Task A_volume_initialized_with_another_password_is_named_with_the_fix_and_its_container_is_removed()
    {
        await DockerEngine.RequireAsync();
        // The volume as an earlier run left it: initialized by the image with another password.
        var initializer = $"{_volumePrefix}-init";
        await DockerEngine.OutputAsync("run", "-d", "--name", initializer, "-e", "POSTGRES_USER=robbie",
            "-e", "POSTGRES_PASSWORD=the-password-of-an-earlier-run", "-v", $"{PostgresVolume}:/var/lib/postgresql/data",
            $"{CartritaInfrastructureExtensions.PostgresImage}:{CartritaInfrastructureExtensions.PostgresImageTag}");
        try
        {
            var ready = Stopwatch.StartNew();
            while ((await DockerEngine.RunAsync("exec", initializer, "pg_isready", "-h", "127.0.0.1", "-U", "robbie")).ExitCode != 0)
            {
                Assert.True(ready.Elapsed < TimeSpan.FromSeconds(60), "the initializing postgres never became ready");
                await Task.Delay(250);
            }
        }
        finally
        {
            await DockerEngine.RunAsync("rm", "-f", initializer);
        }

        var (text, _, exitCode, _) = await TerminalOutput.RunUntilFailureAsync(output, _dataDirectory, "postgres",
            "--Cartrita:Infrastructure=containers", $"--Cartrita:Containers:VolumePrefix={_volumePrefix}",
            "--Parameters:postgres-password=the-password-configured-now-0123456789");

        Assert.Contains("28P01: password authentication failed for user \"robbie\"", text);
        Assert.Contains($"why: the data volume '{PostgresVolume}' was initialized with another password than the one configured now", text);
        Assert.Contains("FATAL:  password authentication failed for user \"robbie\"", text);
        Assert.Contains("set Parameters:postgres-password", text);
        Assert.Contains($"docker volume rm {PostgresVolume}", text);
        Assert.DoesNotContain("the-password-configured-now-0123456789", text);
        Assert.Equal(1, exitCode);
        // Nothing of the run is left once the AppHost has exited; the volume is (it holds someone's data).
        Assert.Empty(await DockerEngine.LinesAsync("ps", "-a", "--filter", $"volume={PostgresVolume}", "--format", "{{.Names}}"));
        Assert.Equal(PostgresVolume, await DockerEngine.OutputAsync("volume", "inspect", "--format", "{{.Name}}", PostgresVolume));
    }
}

/// <summary>Reading an AppHost run's terminal.</summary>
internal static partial class TerminalOutput
{
    /// <summary>What a run that failed while starting printed, how soon it named the failure, and how it exited.</summary>
    public sealed record FailedRun(string Text, TimeSpan ReportedAfter, int ExitCode, StackPorts Ports);

    /// <summary>
    /// Runs the AppHost (processes mode, free ports, <paramref name="args"/> on top) until it has reported
    /// <paramref name="resource"/> failed, which must happen within <see cref="StartupTerminalTests.ReportedWithin"/>,
    /// and has exited.
    /// </summary>
    public static async Task<FailedRun> RunUntilFailureAsync(ITestOutputHelper output, string dataDirectory, string resource, params string[] args)
    {
        var ports = StackPorts.Pick();
        var clock = Stopwatch.StartNew();
        await using var run = AppHostRun.Start(dataDirectory, ports, new Dictionary<string, string>(), args);
        await WaitForAsync(run, $"cartrita: {resource} failed", StartupTerminalTests.ReportedWithin);
        var reportedAfter = clock.Elapsed;
        var text = await WaitForExitAsync(run, TimeSpan.FromSeconds(60));
        output.WriteLine($"reported after {reportedAfter.TotalSeconds:0.0}s, exited {run.ExitCode}\n{text}");
        return new FailedRun(text, reportedAfter, run.ExitCode, ports);
    }

    /// <summary>An executable shell script <paramref name="name"/> in <paramref name="directory"/>.</summary>
    public static async Task<string> WriteScriptAsync(string directory, string name, string body)
    {
        var path = Path.Combine(directory, name);
        await File.WriteAllTextAsync(path, $"#!/bin/sh\n{body}\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        }
        return path;
    }

    /// <summary>Waits until the run has printed <paramref name="text"/>; returns everything printed so far.</summary>
    public static async Task<string> WaitForAsync(AppHostRun run, string text, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < within)
        {
            if (run.Output.Contains(text, StringComparison.Ordinal))
            {
                return run.Output;
            }
            if (run.HasExited)
            {
                await run.WaitForExitAsync(TimeSpan.FromSeconds(5));
                break;
            }
            await Task.Delay(100);
        }
        Assert.Fail($"'{text}' not printed within {within.TotalSeconds:0}s{(run.HasExited ? $" (the AppHost exited {run.ExitCode})" : "")}:\n{run.Output}");
        return "";
    }

    /// <summary>Waits for the run to exit; returns everything it printed.</summary>
    public static async Task<string> WaitForExitAsync(AppHostRun run, TimeSpan within)
    {
        Assert.True(await run.WaitForExitAsync(within), $"the AppHost did not exit within {within.TotalSeconds:0}s:\n{run.Output}");
        return run.Output;
    }

    /// <summary>The seconds printed on <paramref name="resource"/>'s first state line <paramref name="state"/>.</summary>
    public static double SecondsOf(string text, string resource, string state)
    {
        var line = text.ReplaceLineEndings("\n").Split('\n')
            .First(l => StateLine().Match(l) is { Success: true } m && l[m.Length..] == $"{resource.PadRight(16)} {state}");
        return double.Parse(StateLine().Match(line).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^\s+(\d+\.\d)s  ")]
    private static partial System.Text.RegularExpressions.Regex StateLine();

    public static void AssertInOrder(string text, params string[] parts)
    {
        var at = 0;
        foreach (var part in parts)
        {
            var found = text.IndexOf(part, at, StringComparison.Ordinal);
            Assert.True(found >= 0, $"'{part}' does not follow the earlier lines in:\n{text}");
            at = found + part.Length;
        }
    }

    public static void AssertNoStackTrace(string text)
    {
        Assert.DoesNotContain("Unhandled exception", text);
        Assert.DoesNotMatch(@"(?m)^\s+at \S+\(", text);
    }

    /// <summary>Right after the AppHost exited: no process of the run and no listener on its ports.</summary>
    public static void AssertNothingLeft(string dataDirectory, StackPorts ports)
    {
        var left = ProcessTable.Mentioning(dataDirectory);
        Assert.True(left.Count == 0, "left running after the AppHost exited: " + string.Join("; ", left.Select(p => $"{p.Pid} {p.CommandLine}")));
        var listening = ports.All.Where(LoopbackPorts.Listening).ToList();
        Assert.True(listening.Count == 0, $"still listening after the AppHost exited: {string.Join(", ", listening)}");
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TerminalCollection
{
    // Runs on its own after the parallel collections: it times how soon a failure is reported (8 s limits), which other
    // stacks starting beside it on two cores stretch past the limit (DCP itself started nothing for 10 s once).
    public const string Name = "terminal";
}
