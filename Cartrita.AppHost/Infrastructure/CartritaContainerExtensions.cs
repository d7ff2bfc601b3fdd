using System.Text.RegularExpressions;
using Cartrita.AppHost.Infrastructure;

namespace Aspire.Hosting;

/// <summary>What the PostgreSQL and Redis containers need beyond Aspire's defaults in containers mode.</summary>
public static partial class CartritaContainerExtensions
{
    /// <summary>
    /// A data volume for <paramref name="builder"/>. Published files keep <paramref name="publishedName"/>, stable across
    /// machines. Run mode names it per checkout (Aspire's own <c>{application}-{hash of the AppHost path}-{resource}-data</c>)
    /// or <c>{Cartrita:Containers:VolumePrefix}-{resource}-data</c>: one fixed name shared by every checkout on a machine
    /// meant a second checkout (or a test run) met a database initialized with another password.
    /// </summary>
    /// <typeparam name="T">The container resource type.</typeparam>
    /// <param name="builder">A container resource.</param>
    /// <param name="options">The resolved options.</param>
    /// <param name="publishedName">The volume name in published files.</param>
    /// <returns>The volume's name in this run.</returns>
    public static string CartritaDataVolumeName<T>(this IResourceBuilder<T> builder, CartritaOptions options, string publishedName)
        where T : ContainerResource
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        if (builder.ApplicationBuilder.ExecutionContext.IsPublishMode)
        {
            return publishedName;
        }
        return options.Containers.VolumePrefix is { Length: > 0 } prefix
            ? $"{prefix}-{builder.Resource.Name}-data"
            : VolumeNameGenerator.Generate(builder, "data");
    }

    /// <summary>Pulls the image from <c>Cartrita:Containers:Registry</c> (a mirror) when one is configured.</summary>
    /// <typeparam name="T">The container resource type.</typeparam>
    /// <param name="builder">A container resource.</param>
    /// <param name="options">The resolved options.</param>
    /// <returns>The builder.</returns>
    public static IResourceBuilder<T> WithCartritaRegistry<T>(this IResourceBuilder<T> builder, CartritaOptions options)
        where T : ContainerResource
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        return options.Containers.Registry is { Length: > 0 } registry ? builder.WithImageRegistry(registry) : builder;
    }

    /// <summary>Fails with the fix when <c>Cartrita:Containers:VolumePrefix</c> cannot start a Docker/Podman volume name.</summary>
    /// <param name="options">The options as configured.</param>
    internal static void ValidateContainerOptions(CartritaOptions options)
    {
        if (options.Containers.VolumePrefix is { Length: > 0 } prefix && !VolumeNamePrefix().IsMatch(prefix))
        {
            throw new DistributedApplicationException(
                $"Cartrita:Containers:VolumePrefix '{prefix}' cannot start a volume name: use letters, digits, '_', '.' or '-', beginning with a letter or digit (for example cartrita-dev), or leave it unset for per-checkout names.");
        }
    }

    /// <summary>
    /// Aspire runs Redis as <c>/bin/sh -c "redis-server …"</c>: sh stays PID 1 and ignores the container's SIGTERM, so
    /// every stop waited out the engine's 10 s and ended in SIGKILL, losing the writes since the last save. With
    /// <c>exec</c> redis-server is PID 1: it saves and exits at once. Run mode only: the published files get the same
    /// rule from the publishing converter.
    /// </summary>
    /// <param name="builder">The Redis container.</param>
    /// <returns>The builder.</returns>
    public static IResourceBuilder<RedisResource> WithRedisServerAsPid1(this IResourceBuilder<RedisResource> builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (!builder.ApplicationBuilder.ExecutionContext.IsRunMode)
        {
            return builder;
        }
        // Runs after Aspire's own argument callback (annotations run in the order they were added), which passes the
        // script's words one by one ("redis-server", "--requirepass", …); Aspire joins them into the `-c` script.
        return builder.WithArgs(context =>
        {
            for (var i = 0; i < context.Args.Count; i++)
            {
                if (context.Args[i] is string command && command.StartsWith("redis-server", StringComparison.Ordinal))
                {
                    context.Args[i] = "exec " + command;
                    return Task.CompletedTask;
                }
            }
            throw new DistributedApplicationException(
                "Aspire's Redis container command has no 'redis-server …' argument any more: update CartritaContainerExtensions.WithRedisServerAsPid1.");
        });
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    private static partial Regex VolumeNamePrefix();
}
