using Cartrita.AppHost.Hosting.NextJs;
using Microsoft.Extensions.DependencyInjection;

namespace Aspire.Hosting;

/// <summary>
/// Hosts Next.js applications, in the manner of Aspire.Hosting.JavaScript (which this machine's package feed does not serve).
/// </summary>
public static class NextJsAppResourceBuilderExtensions
{
    // Local development serves on loopback only; containers listen on all interfaces (their Dockerfiles).
    private const string LoopbackAddress = "127.0.0.1";

    /// <summary>
    /// Adds a Next.js application from <paramref name="appDirectory"/>. Before each start its node modules are installed
    /// with <c>npm ci</c> when missing or older than the lockfile, and in <see cref="NextJsMode.Production"/> the app is
    /// rebuilt when its sources changed since the last build and served by its standalone server (the app must set
    /// <c>output: 'standalone'</c>); the output of both steps shows in the resource's console log.
    /// In publish mode the application is built as a container from the Dockerfile in <paramref name="appDirectory"/>.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="name">The resource name.</param>
    /// <param name="appDirectory">The folder holding package.json, relative to the AppHost project.</param>
    /// <param name="mode">Production build (default) or development server.</param>
    /// <returns>The resource builder, with an <c>http</c> endpoint whose port is also in <c>PORT</c>.</returns>
    public static IResourceBuilder<NextJsAppResource> AddNextJsApp(
        this IDistributedApplicationBuilder builder,
        [ResourceName] string name,
        string appDirectory,
        NextJsMode mode = NextJsMode.Production)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var resource = new NextJsAppResource(name, Path.GetFullPath(appDirectory, builder.AppHostDirectory), mode);
        var endpoint = resource.HttpEndpoint;

        return builder.AddResource(resource)
            .WithHttpEndpoint(env: "PORT", name: NextJsAppResource.HttpEndpointName, isProxied: false)
            .WithArgs(context =>
            {
                if (resource.Mode == NextJsMode.Production)
                {
                    // The standalone server takes PORT and HOSTNAME from the environment.
                    context.Args.Add(resource.StandaloneServer);
                    return;
                }
                context.Args.Add(resource.NextCli);
                context.Args.Add("dev");
                context.Args.Add("--hostname");
                context.Args.Add(LoopbackAddress);
                context.Args.Add("--port");
                context.Args.Add(endpoint.Property(EndpointProperty.TargetPort));
            })
            .WithEnvironment(context =>
            {
                // In publish mode the container's own HOSTNAME (its Dockerfile: all interfaces) must stand.
                if (context.ExecutionContext.IsRunMode)
                {
                    context.EnvironmentVariables["HOSTNAME"] = LoopbackAddress;
                }
            })
            .WithEnvironment("NEXT_TELEMETRY_DISABLED", "1")
            .WithEnvironment("NODE_ENV", mode == NextJsMode.Production ? "production" : "development")
            .WithRequiredCommand("node")
            .WithRequiredCommand("npm")
            .OnBeforeResourceStarted(async (app, @event, cancellationToken) =>
            {
                var logger = @event.Services.GetRequiredService<ResourceLoggerService>().GetLogger(app);
                var workspace = new NextJsWorkspace(app.WorkingDirectory, logger);
                await workspace.EnsureNodeModulesAsync(cancellationToken);
                if (app.Mode == NextJsMode.Production)
                {
                    await workspace.EnsureBuildAsync(cancellationToken);
                }
            })
            .PublishAsDockerFile();
    }
}
