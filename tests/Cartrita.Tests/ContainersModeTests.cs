using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Cartrita.Tests.Reliability;
using Xunit.Abstractions;

namespace Cartrita.Tests;

/// <summary>
/// The AppHost in containers mode (<c>--Cartrita:Infrastructure=containers</c>) on the installed engine: PostgreSQL and
/// Redis as the pinned images, the rest as processes, on free ports, with data volumes of the test's own. Asserts the
/// stack is healthy, really uses the containers, and that stopping it (Aspire's stop, or SIGTERM of a real AppHost)
/// removes every container and network of the run within a bound, keeping the data volumes.
/// </summary>
[Collection(ContainersModeCollection.Name)]
public sealed class ContainersModeTests(ITestOutputHelper output)
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(8);

    /// <summary>Containers and networks gone after the stop. Redis under `sh -c` took the engine's 10 s SIGKILL wait alone.</summary>
    public static readonly TimeSpan CleanStopBound = TimeSpan.FromSeconds(8);

    private readonly string _volumePrefix = $"cartrita-test-{Guid.NewGuid():N}"[..22];

    private string PostgresVolume => $"{_volumePrefix}-postgres-data";

    private string RedisVolume => $"{_volumePrefix}-redis-data";

    private static string[] ContainersModeArgs(string dataDirectory, string volumePrefix) =>
    [
        // The processes-mode test settings (free ports, data folder, no reload), but containers, and no instant
        // give-up on the runtime (DcpPublisher:ContainerRuntimeInitializationTimeout=0 is for runs without one).
        .. TestStack.ProcessesModeArgs(dataDirectory)
            .Where(arg => !arg.StartsWith("--Cartrita:Infrastructure=", StringComparison.Ordinal) && !arg.StartsWith("--DcpPublisher:", StringComparison.Ordinal)),
        "--Cartrita:Infrastructure=containers",
        $"--Cartrita:Containers:VolumePrefix={volumePrefix}",
    ];

    [ContainersFact]
    public async Task Stack_runs_on_the_containers_and_its_stop_leaves_no_container_or_network()
    {
        await DockerEngine.RequireAsync();
        var dataDirectory = TestStack.CreateDataDirectory();
        string? creator = null;
        try
        {
            var clock = Stopwatch.StartNew();
            var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Cartrita_AppHost>(ContainersModeArgs(dataDirectory, _volumePrefix));
            var app = await builder.BuildAsync();
            await using (app)
            {
                using (var timeout = new CancellationTokenSource(StartTimeout))
                {
                    var starting = app.StartAsync(timeout.Token);
                    await TestStack.WaitForAllAsync(app, timeout.Token);
                    await starting;
                }
                output.WriteLine($"all resources healthy, migrations finished 0: {clock.Elapsed.TotalSeconds:0.0}s");

                creator = await CreatorOfAsync(PostgresVolume);
                await AssertRunsOnTheContainersAsync(app, creator);

                var stopping = Stopwatch.StartNew();
                using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                await app.StopAsync(stopTimeout.Token);
                output.WriteLine($"app stopped: {stopping.Elapsed.TotalSeconds:0.0}s");
            }
            await AssertCleanStopAsync(creator, "Aspire's stop and dispose");
        }
        finally
        {
            await DockerEngine.CleanUpAsync(creator, PostgresVolume, RedisVolume);
            TestStack.DeleteDataDirectory(dataDirectory);
        }
    }

    [ContainersFact]
    public async Task Sigterm_of_the_AppHost_removes_its_containers_and_network_and_redis_saves_its_data()
    {
        await DockerEngine.RequireAsync();
        var dataDirectory = TestStack.CreateDataDirectory();
        string? creator = null;
        try
        {
            var clock = Stopwatch.StartNew();
            await using var run = AppHostRun.Start(dataDirectory, StackPorts.Pick(), new Dictionary<string, string>(),
                "--Cartrita:Infrastructure=containers", $"--Cartrita:Containers:VolumePrefix={_volumePrefix}");
            await run.WaitHealthyAsync(StartTimeout);
            output.WriteLine($"dotnet run: orchestrator and frontend healthy after {clock.Elapsed.TotalSeconds:0.0}s");
            creator = await CreatorOfAsync(PostgresVolume);

            // A write just before the stop: kept only if redis-server gets the SIGTERM (and saves), not sh.
            var redis = await DockerEngine.ContainerWithVolumeAsync(RedisVolume);
            var marker = Guid.NewGuid().ToString("N");
            Assert.Equal("OK", await RedisCliAsync(redis, "SET", "containers-mode-test", marker));

            var stopping = Stopwatch.StartNew();
            await run.StopAsync(TimeSpan.FromSeconds(60));
            output.WriteLine($"AppHost exited {stopping.Elapsed.TotalSeconds:0.0}s after SIGTERM (exit {run.ExitCode})");
            await AssertCleanStopAsync(creator, "SIGTERM of the AppHost");

            // The volume outlives the run, with the key in it: read it with a throw-away server on the same volume.
            var kept = await DockerEngine.OutputAsync("run", "--rm", "-v", $"{RedisVolume}:/data", "--entrypoint", "sh",
                $"redis:{CartritaInfrastructureExtensions.RedisImageTag}", "-c",
                "redis-server --dir /data --daemonize yes >/dev/null && i=0; until redis-cli ping 2>/dev/null | grep -q PONG; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done; redis-cli GET containers-mode-test");
            Assert.Equal(marker, kept);
        }
        finally
        {
            await DockerEngine.CleanUpAsync(creator, PostgresVolume, RedisVolume);
            TestStack.DeleteDataDirectory(dataDirectory);
        }
    }

    /// <summary>The DCP process that created the container mounting <paramref name="volume"/> (it labels all it creates).</summary>
    private static async Task<string> CreatorOfAsync(string volume)
    {
        var container = await DockerEngine.ContainerWithVolumeAsync(volume);
        var creator = await DockerEngine.OutputAsync("inspect", "--format", $"{{{{index .Config.Labels \"{DockerEngine.CreatorLabel}\"}}}}", container);
        Assert.Matches("^[0-9]+$", creator);
        return creator;
    }

    private async Task AssertCleanStopAsync(string creator, string how)
    {
        var gone = await DockerEngine.WaitGoneAsync(creator, CleanStopBound);
        var left = gone is null ? await DockerEngine.CreatedByAsync(creator) : [];
        Assert.True(gone is not null, $"{CleanStopBound.TotalSeconds:0}s after {how}, still there: {string.Join("; ", left)}");
        output.WriteLine($"{how}: no container or network of the run left after {gone!.Value.TotalSeconds:0.0}s more");
        // Data volumes are kept for the next run (that is what they are for).
        foreach (var volume in (string[])[PostgresVolume, RedisVolume])
        {
            Assert.Equal(volume, await DockerEngine.OutputAsync("volume", "inspect", "--format", "{{.Name}}", volume));
        }
    }

    /// <summary>Everything the orchestrator reports must come from the containers, not from some local server.</summary>
    private async Task AssertRunsOnTheContainersAsync(DistributedApplication app, string creator)
    {
        // Exactly the two pinned images run, with the test's volumes, on a network of this run.
        var images = await DockerEngine.LinesAsync("ps", "--filter", $"label={DockerEngine.CreatorLabel}={creator}", "--format", "{{.Image}}");
        Assert.Equal(
            [$"{CartritaInfrastructureExtensions.PostgresImage}:{CartritaInfrastructureExtensions.PostgresImageTag}", $"redis:{CartritaInfrastructureExtensions.RedisImageTag}"],
            images.Order(StringComparer.Ordinal));
        Assert.NotEmpty(await DockerEngine.LinesAsync("network", "ls", "--filter", $"label={DockerEngine.CreatorLabel}={creator}", "--format", "{{.Name}}"));
        var postgres = await DockerEngine.ContainerWithVolumeAsync(PostgresVolume);
        var redis = await DockerEngine.ContainerWithVolumeAsync(RedisVolume);
        Assert.Equal("redis-server", await DockerEngine.OutputAsync("exec", redis, "cat", "/proc/1/comm"));

        using var client = app.CreateHttpClient("ai-orchestrator", "http");
        var health = await client.GetFromJsonAsync<JsonElement>("/health");
        Assert.Equal("ok", health.GetProperty("checks").GetProperty("database").GetProperty("status").GetString());
        Assert.Equal("ok", health.GetProperty("checks").GetProperty("redis").GetProperty("status").GetString());

        var model = app.Services.GetRequiredService<DistributedApplicationModel>();
        async Task<string> Parameter(string name) => (await model.Resources.OfType<ParameterResource>().Single(p => p.Name == name).GetValueAsync(default))!;
        using (var tokenRequest = new HttpRequestMessage(HttpMethod.Post, "/api/auth/token"))
        {
            tokenRequest.Headers.Add("X-API-Key", await Parameter("cartrita-api-key"));
            using var tokenResponse = await client.SendAsync(tokenRequest);
            Assert.Equal(HttpStatusCode.OK, tokenResponse.StatusCode);
            var token = (await tokenResponse.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString();
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        var marker = Guid.NewGuid().ToString("N");
        using var stored = await client.PostAsJsonAsync("/api/memory", new
        {
            items = new[] { new { content = $"the containers-mode test stored this {marker}" }, new { content = "an unrelated note about gardening" } },
        });
        Assert.Equal(HttpStatusCode.Created, stored.StatusCode);
        using var search = await client.PostAsJsonAsync("/api/memory/search", new { query = $"the containers-mode test stored this {marker}", k = 2 });
        Assert.Equal(HttpStatusCode.OK, search.StatusCode);
        var results = (await search.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results");
        Assert.Contains(marker, results[0].GetProperty("content").GetString());

        // The row is in the container's database, and the orchestrator's Redis traffic (rate limiter, sessions) in its Redis.
        // Aspire initializes the server with scram for local connections too: psql authenticates from the container's env.
        var rows = await DockerEngine.OutputAsync("exec", postgres, "sh", "-c",
            $"PGPASSWORD=\"$POSTGRES_PASSWORD\" psql -U \"$POSTGRES_USER\" -d cartrita -tAc \"SELECT count(*) FROM memories WHERE content LIKE '%{marker}%'\"");
        Assert.Equal("1", rows);
        Assert.True(int.Parse(await RedisCliAsync(redis, "DBSIZE"), System.Globalization.CultureInfo.InvariantCulture) > 0, "the orchestrator wrote nothing to the Redis container");
    }

    /// <summary>redis-cli in the container, authenticated from the container's own REDIS_PASSWORD (never on a command line).</summary>
    private static Task<string> RedisCliAsync(string container, params string[] command) =>
        DockerEngine.OutputAsync("exec", container, "sh", "-c", $"REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli {string.Join(' ', command)}");
}

/// <summary>Containers-mode stacks run alone: on two cores another stack beside them only slows both into timeouts.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ContainersModeCollection
{
    public const string Name = "containers mode";
}
