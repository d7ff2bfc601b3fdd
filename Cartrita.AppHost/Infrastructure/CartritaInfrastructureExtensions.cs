using Cartrita.AppHost.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace Aspire.Hosting;

/// <summary>
/// Cartrita's data services (PostgreSQL with pgvector, Redis) as containers or as local processes, chosen by
/// <see cref="CartritaOptions.Infrastructure"/>. Both shapes give consumers the same resource names, connection strings
/// and health checks, so the rest of the model does not care which one runs.
/// </summary>
public static class CartritaInfrastructureExtensions
{
    /// <summary>pgvector 0.8.0 on PostgreSQL 15: the same versions as the local build (eng/install.sh pgvector).</summary>
    public const string PostgresImage = "pgvector/pgvector";
    public const string PostgresImageTag = "0.8.0-pg15";

    /// <summary>Redis 7.0, as Debian bookworm's redis-server.</summary>
    public const string RedisImageTag = "7.0.15";

    /// <summary>
    /// Reads the <c>Cartrita</c> configuration section and settles the infrastructure mode: publish mode always models
    /// containers; <c>auto</c> picks containers only when a container runtime answers; <c>containers</c> without a
    /// working runtime fails here with a clear message instead of waiting forever on unhealthy containers.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <returns>The options, with <see cref="CartritaOptions.Infrastructure"/> resolved to containers or processes.</returns>
    public static CartritaOptions GetCartritaOptions(this IDistributedApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.Configuration.GetSection(CartritaOptions.SectionName).Get<CartritaOptions>() ?? new CartritaOptions();
        var repositoryRoot = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
        options.DataDirectory = Path.GetFullPath(options.DataDirectory, repositoryRoot);
        options.Backups.Directory = Path.GetFullPath(options.Backups.Directory, repositoryRoot);
        options.Backups.PostgresBinDirectory = options.Tools.PostgresBinDirectory;
        CartritaContainerExtensions.ValidateContainerOptions(options);

        if (builder.ExecutionContext.IsPublishMode)
        {
            options.Infrastructure = InfrastructureMode.Containers;
            return options;
        }

        IReadOnlyList<string> problems = [];
        var runtime = options.Infrastructure == InfrastructureMode.Processes ? null : ContainerRuntime.FindWorking(out problems);
        options.Infrastructure = (options.Infrastructure, runtime) switch
        {
            (InfrastructureMode.Containers, null) => throw new DistributedApplicationException(
                $"Cartrita:Infrastructure is 'containers' but no container runtime answers that Aspire can use ({string.Join("; ", problems)}). " +
                "Start Docker or Podman (eng/containers/engine.sh start docker, then eval its exports), or run without containers: --Cartrita:Infrastructure=processes (or auto, the default)."),
            (InfrastructureMode.Processes, _) or (InfrastructureMode.Auto, null) => InfrastructureMode.Processes,
            _ => InfrastructureMode.Containers,
        };
        options.ContainerRuntime = options.Infrastructure == InfrastructureMode.Containers ? runtime : null;
        return options;
    }

    /// <summary>
    /// Adds the PostgreSQL server <paramref name="name"/> (pgvector image, or a local process) and returns its database
    /// <paramref name="databaseName"/>.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="options">The resolved options.</param>
    /// <param name="name">The server resource name.</param>
    /// <param name="databaseName">The database resource (and database) name.</param>
    /// <param name="userName">The superuser name.</param>
    /// <param name="password">The superuser password.</param>
    /// <returns>The database resource.</returns>
    public static IResourceBuilder<IResourceWithConnectionString> AddCartritaPostgres(
        this IDistributedApplicationBuilder builder,
        CartritaOptions options,
        [ResourceName] string name,
        [ResourceName] string databaseName,
        IResourceBuilder<ParameterResource> userName,
        IResourceBuilder<ParameterResource> password)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(userName);
        ArgumentNullException.ThrowIfNull(password);
        var port = PortOrAny(options.Ports.Postgres);
        if (options.Infrastructure == InfrastructureMode.Containers)
        {
            var server = builder.AddPostgres(name, userName, password, port)
                .WithImage(PostgresImage, PostgresImageTag)
                .WithCartritaRegistry(options);
            return server.WithDataVolume(server.CartritaDataVolumeName(options, "cartrita-postgres-data"))
                .AddDatabase(databaseName);
        }

        return builder.AddPostgresProcess(name, userName, password, Path.Combine(options.DataDirectory, "postgres"), port, options.Tools.PostgresBinDirectory)
            .AddDatabase(databaseName);
    }

    /// <summary>Adds the Redis server <paramref name="name"/> (pinned image, or a local redis-server).</summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="options">The resolved options.</param>
    /// <param name="name">The resource name.</param>
    /// <param name="password">The password clients authenticate with.</param>
    /// <returns>The Redis resource.</returns>
    public static IResourceBuilder<IResourceWithConnectionString> AddCartritaRedis(
        this IDistributedApplicationBuilder builder,
        CartritaOptions options,
        [ResourceName] string name,
        IResourceBuilder<ParameterResource> password)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(password);
        var port = PortOrAny(options.Ports.Redis);
        if (options.Infrastructure == InfrastructureMode.Containers)
        {
            var server = builder.AddRedis(name, port, password)
                .WithImageTag(RedisImageTag)
                .WithCartritaRegistry(options)
                .WithRedisServerAsPid1();
            return server.WithDataVolume(server.CartritaDataVolumeName(options, "cartrita-redis-data"));
        }

        return builder.AddRedisProcess(name, password, Path.Combine(options.DataDirectory, "redis"), port, options.Tools.RedisServer);
    }

    /// <summary>A Redis URL (<c>redis://:password@host:port/n</c>) for database <paramref name="database"/>.</summary>
    /// <param name="builder">A Redis resource (container or process).</param>
    /// <param name="database">The Redis database number.</param>
    /// <returns>The URL as a reference expression.</returns>
    public static ReferenceExpression RedisUrl(this IResourceBuilder<IResourceWithConnectionString> builder, int database = 0)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Resource switch
        {
            // Built from parts: Aspire's RedisResource.UriExpression writes the binding's scheme, which is "tcp" in a manifest.
            RedisResource container => ReferenceExpression.Create(
                $"redis://:{container.PasswordParameter!:uri}@{container.PrimaryEndpoint.Property(EndpointProperty.Host)}:{container.PrimaryEndpoint.Property(EndpointProperty.Port)}/{database.ToString(System.Globalization.CultureInfo.InvariantCulture)}"),
            RedisProcessResource process => ReferenceExpression.Create($"{process.UriExpression}/{database.ToString(System.Globalization.CultureInfo.InvariantCulture)}"),
            var other => throw new ArgumentException($"'{other.Name}' is not a Redis resource.", nameof(builder)),
        };
    }

    internal static int? PortOrAny(int port) => port > 0 ? port : null;
}
