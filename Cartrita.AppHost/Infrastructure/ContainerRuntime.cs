using System.Globalization;
using System.Text.RegularExpressions;
using Cartrita.AppHost.Hosting.LocalProcesses;

namespace Cartrita.AppHost.Infrastructure;

/// <summary>Finds a container runtime that really answers (the docker CLI can exist without a daemon) and that DCP accepts.</summary>
internal static partial class ContainerRuntime
{
    /// <summary>
    /// DCP 0.26 refuses older docker CLIs ("docker CLI version 20.10.24 is not supported; DCP requires Docker CLI version
    /// 25.0.0 or newer", in `dcp info --diagnostics`) and then quietly uses podman instead, whose own storage does not
    /// hold the images. A newer CLI talks to an older daemon fine (it negotiates the API version down).
    /// </summary>
    public static readonly Version MinimumDockerCli = new(25, 0);

    /// <summary>
    /// The runtime Aspire would use (ASPIRE_CONTAINER_RUNTIME, else docker, then podman), if its daemon answers; else
    /// null, with each candidate's problem in <paramref name="problems"/>.
    /// </summary>
    public static string? FindWorking(out IReadOnlyList<string> problems)
    {
        var configured = Environment.GetEnvironmentVariable("ASPIRE_CONTAINER_RUNTIME")
            ?? Environment.GetEnvironmentVariable("DOTNET_ASPIRE_CONTAINER_RUNTIME");
        string[] candidates = string.IsNullOrWhiteSpace(configured) ? ["docker", "podman"] : [configured];
        var found = new List<string>();
        foreach (var runtime in candidates)
        {
            if (Problem(runtime) is not { } problem)
            {
                problems = found;
                return runtime;
            }
            found.Add($"{runtime}: {problem}");
        }
        problems = found;
        return null;
    }

    private static string? Problem(string runtime)
    {
        if (!Run(runtime, "info").Succeeded)
        {
            return $"`{runtime} info` failed";
        }
        if (runtime != "docker")
        {
            return null;
        }
        var client = Run("docker", "version", "--format", "{{.Client.Version}}").Output.Trim();
        var parsed = LeadingVersion().Match(client);
        return parsed.Success && new Version(int.Parse(parsed.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(parsed.Groups[2].Value, CultureInfo.InvariantCulture)) < MinimumDockerCli
            ? $"the docker CLI first on PATH is version {client}; Aspire's DCP needs {MinimumDockerCli} or newer (put a newer docker CLI first on PATH; it works with an older daemon)"
            : null;
    }

    private static CommandResult Run(string program, params string[] arguments) =>
        CommandLine.RunAsync(program, arguments, timeout: TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();

    [GeneratedRegex(@"^(\d+)\.(\d+)")]
    private static partial Regex LeadingVersion();
}
