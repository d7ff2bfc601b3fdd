using System.Diagnostics;

namespace Cartrita.Tests;

/// <summary>
/// The container engine the containers-mode tests run on, through the same <c>docker</c> CLI (and DOCKER_HOST) that DCP
/// uses to start the AppHost's containers.
/// </summary>
internal static class DockerEngine
{
    /// <summary>The label DCP puts on every container and network it creates: the creating DCP process id.</summary>
    public const string CreatorLabel = "com.microsoft.developer.usvc-dev.creatorProcessId";

    public const string StartFix = "eval \"$(eng/containers/engine.sh start docker)\" (`./cartrita test` does this), or set CARTRITA_CONTAINER_TESTS=0 to skip the containers-mode tests";

    /// <summary>Fails the test, naming the fix, when no engine answers: a missing engine must never pass silently.</summary>
    public static async Task RequireAsync()
    {
        var (exitCode, output) = await RunAsync("info", "--format", "{{.ServerVersion}}");
        if (exitCode != 0)
        {
            throw new Xunit.Sdk.XunitException(
                $"no container engine answers (`docker info` with DOCKER_HOST={Environment.GetEnvironmentVariable("DOCKER_HOST") ?? "unset"}: {output.Trim()}); start one: {StartFix}");
        }
    }

    /// <summary>Runs <c>docker</c> with <paramref name="arguments"/>; returns the exit code and stdout + stderr.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(params string[] arguments)
    {
        try
        {
            return await ChildProcess.RunAsync("docker", arguments, TimeSpan.FromSeconds(60));
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (127, $"docker CLI not found ({ex.Message}); install it: eng/install.sh containers");
        }
        catch (TimeoutException ex)
        {
            // A result, not a throw: the clean-up paths call this too and must go on.
            return (124, ex.Message);
        }
    }

    /// <summary>Runs <c>docker</c> and returns its trimmed output, failing the test when it exits non-zero.</summary>
    public static async Task<string> OutputAsync(params string[] arguments)
    {
        var (exitCode, output) = await RunAsync(arguments);
        Assert.True(exitCode == 0, $"docker {string.Join(' ', arguments)} exited {exitCode}: {output}");
        return output.Trim();
    }

    /// <summary>Non-empty lines of a docker listing.</summary>
    public static async Task<IReadOnlyList<string>> LinesAsync(params string[] arguments) =>
        (await OutputAsync(arguments)).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Containers (any state) and networks created by the DCP process <paramref name="creatorPid"/>.</summary>
    public static async Task<IReadOnlyList<string>> CreatedByAsync(string creatorPid)
    {
        var filter = $"label={CreatorLabel}={creatorPid}";
        var containers = await LinesAsync("ps", "-a", "--filter", filter, "--format", "container {{.Names}} ({{.Status}})");
        var networks = await LinesAsync("network", "ls", "--filter", filter, "--format", "network {{.Name}}");
        return [.. containers, .. networks];
    }

    /// <summary>The id of the one container that mounts volume <paramref name="volume"/>.</summary>
    public static async Task<string> ContainerWithVolumeAsync(string volume) =>
        Assert.Single(await LinesAsync("ps", "--filter", $"volume={volume}", "--format", "{{.ID}}"));

    /// <summary>Polls until nothing created by <paramref name="creatorPid"/> is left; returns how long that took, or null.</summary>
    public static async Task<TimeSpan?> WaitGoneAsync(string creatorPid, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < bound)
        {
            if ((await CreatedByAsync(creatorPid)).Count == 0)
            {
                return clock.Elapsed;
            }
            await Task.Delay(250);
        }
        return null;
    }

    /// <summary>Removes what a failed run may have left: its containers, networks and the test's own volumes.</summary>
    public static async Task CleanUpAsync(string? creatorPid, params string[] volumes)
    {
        if (creatorPid is not null)
        {
            var filter = $"label={CreatorLabel}={creatorPid}";
            foreach (var id in await LinesAsync("ps", "-aq", "--filter", filter))
            {
                await RunAsync("rm", "-f", "-v", id);
            }
            foreach (var id in await LinesAsync("network", "ls", "-q", "--filter", filter))
            {
                await RunAsync("network", "rm", id);
            }
        }
        foreach (var volume in volumes)
        {
            await RunAsync("volume", "rm", "-f", volume);
        }
    }
}

/// <summary>
/// A test that needs a container engine. It runs unless CARTRITA_CONTAINER_TESTS=0 (an explicit skip with that reason);
/// without an engine it fails, naming the fix (<see cref="DockerEngine.RequireAsync"/>).
/// </summary>
public sealed class ContainersFactAttribute : FactAttribute
{
    public ContainersFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("CARTRITA_CONTAINER_TESTS") == "0")
        {
            Skip = "CARTRITA_CONTAINER_TESTS=0: containers-mode tests skipped on request";
        }
    }
}
