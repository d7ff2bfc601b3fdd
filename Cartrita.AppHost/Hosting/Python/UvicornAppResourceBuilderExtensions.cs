namespace Aspire.Hosting;

/// <summary>
/// Hosts Python ASGI applications with uvicorn, in the manner of Aspire.Hosting.Python (which this machine's package
/// feed does not serve).
/// </summary>
public static class UvicornAppResourceBuilderExtensions
{
    // Local development serves on loopback only; containers listen on all interfaces (their Dockerfiles).
    private const string LoopbackAddress = "127.0.0.1";

    /// <summary>The interpreter used when the application has no virtual environment: Debian's, which carries the packages.</summary>
    public const string SystemPython = "/usr/bin/python3";

    /// <summary>
    /// uvicorn flags every application gets, as the orchestrator's Dockerfile CMD has them: <c>--no-proxy-headers</c>
    /// (the application decides whose X-Forwarded-For to believe; uvicorn would believe any from 127.0.0.1),
    /// <c>--ws wsproto</c> (the implementation the orchestrator caps message sizes on, whatever else is installed) and
    /// <c>--ws-per-message-deflate false</c> (wsproto inflates a compressed frame whole, before any size check).
    /// </summary>
    public static IReadOnlyList<string> HardeningArguments { get; } =
        ["--no-proxy-headers", "--ws", "wsproto", "--ws-per-message-deflate", "false"];

    /// <summary>
    /// Adds a Python ASGI application run by <c>python -m uvicorn <paramref name="app"/></c> from
    /// <paramref name="appDirectory"/>. The interpreter is <paramref name="python"/> when given, else
    /// <c>appDirectory/.venv/bin/python</c> when that virtual environment exists, else <see cref="SystemPython"/>; it is
    /// the resource's command, so a preflight can check what really runs. In run mode uvicorn reloads on code changes;
    /// in publish mode the application is built as a container from the Dockerfile in <paramref name="appDirectory"/>.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="name">The resource name.</param>
    /// <param name="appDirectory">The application folder, relative to the AppHost project.</param>
    /// <param name="app">The ASGI application, as <c>module:attribute</c>.</param>
    /// <param name="reload">Whether uvicorn restarts on code changes (run mode only).</param>
    /// <param name="python">The interpreter; <see langword="null"/> for the virtual environment or the system's.</param>
    /// <returns>The resource builder, with an <c>http</c> endpoint whose port is also in <c>PORT</c>.</returns>
    public static IResourceBuilder<UvicornAppResource> AddUvicornApp(
        this IDistributedApplicationBuilder builder,
        [ResourceName] string name,
        string appDirectory,
        string app,
        bool reload = true,
        string? python = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(appDirectory);
        ArgumentException.ThrowIfNullOrEmpty(app);
        appDirectory = Path.GetFullPath(appDirectory, builder.AppHostDirectory);
        var virtualEnvironmentPython = Path.Combine(appDirectory, ".venv", "bin", "python");
        python ??= File.Exists(virtualEnvironmentPython) ? virtualEnvironmentPython : SystemPython;

        var resource = new UvicornAppResource(name, python, appDirectory);
        var endpoint = resource.HttpEndpoint;

        return builder.AddResource(resource)
            .WithHttpEndpoint(env: "PORT", name: UvicornAppResource.HttpEndpointName, isProxied: false)
            .WithArgs(context =>
            {
                context.Args.Add("-m");
                context.Args.Add("uvicorn");
                context.Args.Add(app);
                context.Args.Add("--host");
                context.Args.Add(LoopbackAddress);
                context.Args.Add("--port");
                context.Args.Add(endpoint.Property(EndpointProperty.TargetPort));
                context.Args.Add("--no-access-log");
                foreach (var argument in HardeningArguments)
                {
                    context.Args.Add(argument);
                }
                if (reload && builder.ExecutionContext.IsRunMode)
                {
                    context.Args.Add("--reload");
                    context.Args.Add("--reload-dir");
                    context.Args.Add(appDirectory);
                }
            })
            .WithEnvironment("PYTHONUNBUFFERED", "1")
            .WithEnvironment("PYTHONDONTWRITEBYTECODE", "1")
            .WithRequiredCommand(python)
            .PublishAsDockerFile();
    }
}
