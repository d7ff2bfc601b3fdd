using Cartrita.Tests.Reliability;

namespace Cartrita.Tests;

/// <summary>Containers mode's model: data volume names and the Redis command, built without starting anything.</summary>
public sealed class ContainersModeModelTests
{
    private static string DataVolume(IDistributedApplicationTestingBuilder builder, string resource) =>
        Assert.Single(builder.Resources.Single(r => r.Name == resource).Annotations.OfType<ContainerMountAnnotation>()).Source!;

    internal static async Task<IList<object>> ArgsAsync(IResource resource)
    {
        var args = new List<object>();
        foreach (var callback in resource.Annotations.OfType<CommandLineArgsCallbackAnnotation>())
        {
            await callback.Callback(new CommandLineArgsCallbackContext(args, resource, default));
        }
        return args;
    }

    private static Task<IDistributedApplicationTestingBuilder> ContainersRunModeAsync(params string[] extra) =>
        DistributedApplicationTestingBuilder.CreateAsync<Projects.Cartrita_AppHost>(
            TestStack.ProcessesModeArgs(Path.GetTempPath(), ["--Cartrita:Infrastructure=containers", .. extra]));

    [Fact]
    public async Task Published_files_keep_the_fixed_volume_names_and_Aspires_redis_command()
    {
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Cartrita_AppHost>(
            ["--publisher", "manifest", "--output-path", Path.Combine(Path.GetTempPath(), $"cartrita-manifest-{Guid.NewGuid():N}.json"),
             "--Cartrita:Containers:VolumePrefix=ignored-when-published"]);

        Assert.Equal("cartrita-postgres-data", DataVolume(builder, "postgres"));
        Assert.Equal("cartrita-redis-data", DataVolume(builder, "redis"));
        // Aspire passes the words of `/bin/sh -c "…"` as separate arguments and joins them into the script itself.
        Assert.Equal(["redis-server", "--requirepass", "$REDIS_PASSWORD", "--save", "60", "1"], await ArgsAsync(builder.Resources.Single(r => r.Name == "redis")));
    }

    [ContainersFact]
    public async Task Run_mode_names_volumes_per_checkout_and_execs_redis_server()
    {
        await DockerEngine.RequireAsync(); // containers mode refuses to build its model without an engine

        await using (var perCheckout = await ContainersRunModeAsync())
        {
            // Aspire's own scheme: application name, a hash of this checkout's AppHost path, the resource.
            Assert.Matches("^cartrita\\.apphost-[0-9a-f]{10}-postgres-data$", DataVolume(perCheckout, "postgres"));
            Assert.Matches("^cartrita\\.apphost-[0-9a-f]{10}-redis-data$", DataVolume(perCheckout, "redis"));
            Assert.Equal(["exec redis-server", "--requirepass", "$REDIS_PASSWORD", "--save", "60", "1"], await ArgsAsync(perCheckout.Resources.Single(r => r.Name == "redis")));
        }

        await using var prefixed = await ContainersRunModeAsync("--Cartrita:Containers:VolumePrefix=cartrita-dev");
        Assert.Equal("cartrita-dev-postgres-data", DataVolume(prefixed, "postgres"));
        Assert.Equal("cartrita-dev-redis-data", DataVolume(prefixed, "redis"));
    }

    [Theory]
    [InlineData("bad prefix")]
    [InlineData("-leading-dash")]
    [InlineData("slash/inside")]
    public async Task A_volume_prefix_that_cannot_start_a_volume_name_is_refused_with_the_fix(string prefix)
    {
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => DistributedApplicationTestingBuilder.CreateAsync<Projects.Cartrita_AppHost>(
            TestStack.ProcessesModeArgs(Path.GetTempPath(), $"--Cartrita:Containers:VolumePrefix={prefix}")));

        var message = failure.GetBaseException().Message;
        Assert.StartsWith($"Cartrita:Containers:VolumePrefix '{prefix}' cannot start a volume name", message);
        Assert.Contains("for example cartrita-dev", message);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task A_docker_CLI_older_than_DCP_accepts_is_refused_naming_the_version_and_the_fix()
    {
        // A docker CLI whose daemon answers but that is 20.10, as Debian bookworm's docker.io: DCP would refuse it and
        // quietly fall back to podman, so the AppHost must refuse first, saying why.
        var dataDirectory = TestStack.CreateDataDirectory();
        var bin = Directory.CreateTempSubdirectory("cartrita-old-docker-").FullName;
        try
        {
            var docker = Path.Combine(bin, "docker");
            await File.WriteAllTextAsync(docker, "#!/bin/sh\ncase \"$1\" in version) echo 20.10.24+dfsg1 ;; esac\nexit 0\n");
            File.SetUnixFileMode(docker, (UnixFileMode)0b111_101_101);
            var environment = new Dictionary<string, string>
            {
                ["PATH"] = $"{bin}:{Environment.GetEnvironmentVariable("PATH")}",
                ["ASPIRE_CONTAINER_RUNTIME"] = "docker",
            };

            await using var run = AppHostRun.Start(dataDirectory, StackPorts.Pick(), environment, "--Cartrita:Infrastructure=containers");

            Assert.True(await run.WaitForExitAsync(TimeSpan.FromSeconds(60)), "the AppHost did not refuse within 60 s");
            Assert.NotEqual(0, run.ExitCode);
            Assert.Contains("no container runtime answers that Aspire can use (docker: the docker CLI first on PATH is version 20.10.24+dfsg1; Aspire's DCP needs 25.0 or newer", run.Output);
        }
        finally
        {
            Directory.Delete(bin, recursive: true);
            TestStack.DeleteDataDirectory(dataDirectory);
        }
    }
}
