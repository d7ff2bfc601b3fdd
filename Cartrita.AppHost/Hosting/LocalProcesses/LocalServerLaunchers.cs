using Microsoft.Extensions.DependencyInjection;

namespace Cartrita.AppHost.Hosting.LocalProcesses;

/// <summary>
/// The repository's launchers for local servers (<c>eng/local-servers</c>, contract in its README.md): the scripts the
/// tests and the benchmarks run too, so a local server is prepared and started one way only.
/// </summary>
internal static class LocalServerLaunchers
{
    /// <summary>The launcher <paramref name="name"/> (<c>postgres-server</c>, <c>redis-server</c>) of this checkout.</summary>
    public static string Path(IDistributedApplicationBuilder builder, string name) =>
        System.IO.Path.GetFullPath(System.IO.Path.Combine(builder.AppHostDirectory, "..", "eng", "local-servers", name));

    /// <summary>
    /// Adds <paramref name="resource"/>, a server its launcher starts, with the endpoint <paramref name="endpointName"/> on
    /// <paramref name="port"/> (handed to the launcher as <paramref name="portVariable"/>). It is healthy once the check
    /// <paramref name="addHealthCheck"/> registers passes against the connection string
    /// <paramref name="healthConnectionString"/> gives.
    /// </summary>
    public static IResourceBuilder<T> AddLaunchedServer<T>(
        this IDistributedApplicationBuilder builder,
        T resource,
        string endpointName,
        int? port,
        string portVariable,
        Action<IHealthChecksBuilder, Func<IServiceProvider, string>, string> addHealthCheck,
        Func<T, CancellationToken, Task<string?>> healthConnectionString)
        where T : ExecutableResource, IResourceWithConnectionString
    {
        string? connectionString = null;
        var healthCheckKey = $"{resource.Name}_check";
        addHealthCheck(
            builder.Services.AddHealthChecks(),
            _ => connectionString ?? throw new InvalidOperationException($"The connection string for '{resource.Name}' is not available yet."),
            healthCheckKey);

        return builder.AddResource(resource)
            .WithEndpoint(port: port, targetPort: port, name: endpointName, env: portVariable, isProxied: false)
            .WithHealthCheck(healthCheckKey)
            .WithStartupHealthPolling()
            .OnConnectionStringAvailable(async (server, _, cancellationToken) =>
                connectionString = await healthConnectionString(server, cancellationToken));
    }
}
