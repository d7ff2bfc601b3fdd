using System.Diagnostics;
using Cartrita.AppHost.Hosting.LocalProcesses;
using Cartrita.AppHost.Infrastructure;

namespace Aspire.Hosting;

/// <summary>Checks, before anything starts, that the container engine has every image the model runs.</summary>
public static class ContainerImagePreflightExtensions
{
    private static readonly TimeSpan PullTimeout = TimeSpan.FromMinutes(30);

    /// <summary>A pull that prints nothing for this long (an unreachable registry that swallows packets) has failed.</summary>
    private static readonly TimeSpan NoProgressLimit = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Containers mode: before any resource starts, pulls each container image the engine does not hold yet, showing the
    /// pull's progress. An image that can be neither found nor pulled (or whose pull makes no progress for a minute)
    /// stops the AppHost with the image, the engine's words and the fix: DCP would otherwise retry its pull in silence
    /// while everything waiting on that container waits too.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="options">The resolved options.</param>
    /// <returns>The builder.</returns>
    public static IDistributedApplicationBuilder EnsureContainerImages(this IDistributedApplicationBuilder builder, CartritaOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        if (!builder.ExecutionContext.IsRunMode || options.ContainerRuntime is not { } runtime)
        {
            return builder;
        }
        builder.Eventing.Subscribe<BeforeStartEvent>(async (@event, cancellationToken) =>
        {
            var images = @event.Model.Resources.OfType<ContainerResource>()
                // Images built here from a Dockerfile are not pulled.
                .Where(resource => !resource.Annotations.OfType<DockerfileBuildAnnotation>().Any())
                .Select(resource => (resource.Name, Image: resource.TryGetContainerImageName(out var image) ? image : null))
                .Where(container => container.Image is not null)
                .GroupBy(container => container.Image!, container => container.Name);
            var problems = await Task.WhenAll(images.Select(image => ProblemAsync(runtime, image.Key, image, cancellationToken)));
            if (problems.Any(problem => problem is not null))
            {
                throw new DistributedApplicationException(
                    $"Cannot start: {runtime} has no image for some containers, and could not pull it.\n" +
                    string.Join('\n', problems.OfType<string>()) +
                    $"\nFix: build or load the image into {runtime} (without a registry, eng/containers/base-images.sh {runtime} builds local stand-ins " +
                    $"under these names; `{runtime} load -i FILE` loads a saved one; Cartrita:Containers:Registry names a mirror), " +
                    "or run PostgreSQL and Redis as local processes: ./cartrita up --Cartrita:Infrastructure=processes");
            }
        });
        return builder;
    }

    private static async Task<string?> ProblemAsync(string runtime, string image, IEnumerable<string> resources, CancellationToken cancellationToken)
    {
        var present = await CommandLine.RunAsync(runtime, ["image", "inspect", "--format", "{{.Id}}", image],
            timeout: TimeSpan.FromSeconds(30), cancellationToken: cancellationToken);
        if (present.Succeeded)
        {
            return null;
        }
        Console.Out.WriteLine($"cartrita: pulling {image} ({runtime} does not have it yet)…");
        var clock = Stopwatch.StartNew();
        using var progress = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        progress.CancelAfter(NoProgressLimit);
        CommandResult pull;
        try
        {
            pull = await CommandLine.RunAsync(runtime, ["pull", image],
                onOutput: line =>
                {
                    progress.CancelAfter(NoProgressLimit);
                    Console.Out.WriteLine($"  {image}: {line}");
                },
                timeout: PullTimeout, cancellationToken: progress.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"  - {string.Join(", ", resources)}: {image}: the pull made no progress for {NoProgressLimit.TotalSeconds:0} s (is the registry reachable?)";
        }
        if (pull.Succeeded)
        {
            Console.Out.WriteLine($"cartrita: pulled {image} in {clock.Elapsed.TotalSeconds:0.0}s");
            return null;
        }
        var said = pull.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? $"exit code {pull.ExitCode}";
        return $"  - {string.Join(", ", resources)}: {image}: {said}";
    }
}
