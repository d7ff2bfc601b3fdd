using Cartrita.AppHost.Hosting.LocalProcesses;
using Microsoft.Extensions.DependencyInjection;

namespace Aspire.Hosting;

/// <summary>Adds Redis servers that run as local processes, for machines without a container runtime.</summary>
public static class RedisProcessBuilderExtensions
{
    /// <summary>
    /// Adds a Redis server run as a local <c>redis-server</c> process, through the repository's launcher
    /// <c>eng/local-servers/redis-server</c>, with append-only persistence in <paramref name="dataDirectory"/>. The
    /// launcher puts the password into a private config file written before each start. The resource is healthy once an
    /// authenticated PING succeeds.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="name">The resource name.</param>
    /// <param name="password">The password clients authenticate with.</param>
    /// <param name="dataDirectory">The data folder (created when missing).</param>
    /// <param name="port">The port to listen on; <see langword="null"/> lets the orchestrator pick a free one.</param>
    /// <param name="command">The <c>redis-server</c> program.</param>
    /// <returns>The resource builder.</returns>
    public static IResourceBuilder<RedisProcessResource> AddRedisProcess(
        this IDistributedApplicationBuilder builder,
        [ResourceName] string name,
        IResourceBuilder<ParameterResource> password,
        string dataDirectory,
        int? port = null,
        string command = "/usr/bin/redis-server")
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(password);
        dataDirectory = Path.GetFullPath(dataDirectory);
        var resource = new RedisProcessResource(name, LocalServerLaunchers.Path(builder, "redis-server"), dataDirectory, password.Resource);

        // The launcher's contract: the password travels in its environment, never on a command line.
        return builder.AddLaunchedServer(resource, RedisProcessResource.PrimaryEndpointName, port, "REDIS_PORT",
                (checks, connectionString, key) => checks.AddRedis(connectionString, name: key),
                async (server, cancellationToken) => await server.ConnectionStringExpression.GetValueAsync(cancellationToken))
            .WithEnvironment("REDIS_DATA", dataDirectory)
            .WithEnvironment("REDIS_SERVER", command)
            .WithEnvironment("REDIS_PASSWORD", password)
            .WithRequiredCommand(command);
    }
}
