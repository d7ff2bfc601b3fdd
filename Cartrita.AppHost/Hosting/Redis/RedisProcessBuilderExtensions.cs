using Cartrita.AppHost.Hosting.LocalProcesses;
using Microsoft.Extensions.DependencyInjection;

namespace Aspire.Hosting;

/// <summary>Adds Redis servers that run as local processes, for machines without a container runtime.</summary>
public static class RedisProcessBuilderExtensions
{
    /// <summary>
    /// Adds a Redis server run as a local <c>redis-server</c> process with append-only persistence in
    /// <paramref name="dataDirectory"/>. The password goes into a private config file written before each start. The
    /// resource is healthy once an authenticated PING succeeds.
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
        var resource = new RedisProcessResource(name, command, Path.GetFullPath(dataDirectory), password.Resource);

        string? connectionString = null;
        var healthCheckKey = $"{name}_check";
        builder.Services.AddHealthChecks().AddRedis(
            _ => connectionString ?? throw new InvalidOperationException($"The connection string for '{name}' is not available yet."),
            name: healthCheckKey);

        var endpoint = resource.PrimaryEndpoint;
        return builder.AddResource(resource)
            .WithEndpoint(port: port, targetPort: port, name: RedisProcessResource.PrimaryEndpointName, isProxied: false)
            .WithArgs(context =>
            {
                // Command-line options override the config file, so the port the orchestrator chose wins.
                context.Args.Add(resource.ConfigFile);
                context.Args.Add("--port");
                context.Args.Add(endpoint.Property(EndpointProperty.TargetPort));
            })
            .WithRequiredCommand(command)
            .WithHealthCheck(healthCheckKey)
            .WithStartupHealthPolling()
            .OnBeforeResourceStarted(async (server, _, cancellationToken) =>
            {
                Directory.CreateDirectory(server.DataDirectory);
                var config = $"""
                    # Written by the Cartrita AppHost before each start; edits are overwritten.
                    bind 127.0.0.1
                    protected-mode yes
                    dir {server.DataDirectory}
                    appendonly yes
                    save ""
                    daemonize no
                    requirepass "{Escape(await server.PasswordParameter.GetValueAsync(cancellationToken))}"
                    """;
                await PrivateFile.WriteAsync(server.ConfigFile, config, cancellationToken);
            })
            .OnConnectionStringAvailable(async (server, _, cancellationToken) =>
                connectionString = await server.ConnectionStringExpression.GetValueAsync(cancellationToken));
    }

    // Redis config strings use C-like escapes inside double quotes.
    private static string Escape(string? value) =>
        (value ?? "").Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
}
