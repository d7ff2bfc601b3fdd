using Cartrita.AppHost.Hosting.LocalProcesses;

namespace Cartrita.AppHost.Infrastructure;

/// <summary>Finds a container runtime that really answers (the docker CLI can exist without a daemon).</summary>
internal static class ContainerRuntime
{
    /// <summary>The runtime Aspire would use (ASPIRE_CONTAINER_RUNTIME, else docker, then podman), if its daemon answers.</summary>
    public static string? FindWorking()
    {
        var configured = Environment.GetEnvironmentVariable("ASPIRE_CONTAINER_RUNTIME")
            ?? Environment.GetEnvironmentVariable("DOTNET_ASPIRE_CONTAINER_RUNTIME");
        string[] candidates = string.IsNullOrWhiteSpace(configured) ? ["docker", "podman"] : [configured];
        return candidates.FirstOrDefault(Answers);
    }

    private static bool Answers(string runtime)
    {
        var result = CommandLine.RunAsync(runtime, ["info"], timeout: TimeSpan.FromSeconds(10))
            .GetAwaiter().GetResult();
        return result.Succeeded;
    }
}
