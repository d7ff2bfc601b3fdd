using System.Reflection;
using System.Runtime.Versioning;

namespace Aspire.Hosting;

/// <summary>Runs .NET projects the AppHost references from their build output.</summary>
public static class BuiltProjectResourceBuilderExtensions
{
    /// <summary>
    /// Adds the project <typeparamref name="TProject"/> run as <c>dotnet bin/&lt;configuration&gt;/&lt;tfm&gt;/Project.dll</c> from
    /// the project's folder. <c>AddProject</c> starts projects through <c>dotnet run --no-build</c>, whose MSBuild
    /// evaluation costs 2–3 s on every start before the program runs: a worker on the start-up path (migrations) delays
    /// everything that waits for it by that much. The AppHost builds the projects it references in its own configuration,
    /// so their output is current whenever the AppHost is; when it is missing (the AppHost was built some other way) the
    /// resource falls back to <c>dotnet run</c>, which builds it. Telemetry goes to the dashboard as for projects. In
    /// publish mode the resource is a container built from the project folder's Dockerfile (see
    /// <c>PublishAsDockerfileBuild</c> for another Dockerfile or build context).
    /// </summary>
    /// <typeparam name="TProject">The project metadata Aspire generates for a project reference (<c>Projects.*</c>).</typeparam>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="name">The resource name.</param>
    /// <returns>The resource builder.</returns>
    public static IResourceBuilder<BuiltProjectResource> AddBuiltProject<TProject>(
        this IDistributedApplicationBuilder builder, [ResourceName] string name)
        where TProject : IProjectMetadata, new()
    {
        ArgumentNullException.ThrowIfNull(builder);
        var projectPath = new TProject().ProjectPath;
        var output = OutputAssembly(projectPath, typeof(TProject).Assembly);

        return builder.AddResource(new BuiltProjectResource(name, projectPath))
            .WithArgs(File.Exists(output)
                ? [output]
                : ["run", "--project", projectPath, "--no-launch-profile"])
            .WithEnvironment(context =>
            {
                // What AddProject gives a .NET project: OTLP export that retries while the collector is away, and in
                // run mode exception and event details on the dashboard's structured logs.
                context.EnvironmentVariables["OTEL_DOTNET_EXPERIMENTAL_OTLP_RETRY"] = "in_memory";
                if (context.ExecutionContext.IsRunMode)
                {
                    context.EnvironmentVariables["OTEL_DOTNET_EXPERIMENTAL_OTLP_EMIT_EXCEPTION_LOG_ATTRIBUTES"] = "true";
                    context.EnvironmentVariables["OTEL_DOTNET_EXPERIMENTAL_OTLP_EMIT_EVENT_LOG_ATTRIBUTES"] = "true";
                    context.EnvironmentVariables["DOTNET_ENVIRONMENT"] = builder.Environment.EnvironmentName;
                }
            })
            .WithOtlpExporter()
            .PublishAsDockerFile();
    }

    // bin/<configuration>/<tfm>/<name>.dll: the SDK's default layout, in the AppHost's own configuration and framework.
    // (Projects.* metadata is generated into the AppHost's assembly, which is not the entry assembly under test.)
    private static string OutputAssembly(string projectPath, Assembly appHost)
    {
        var configuration = appHost.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var framework = new FrameworkName(appHost.GetCustomAttribute<TargetFrameworkAttribute>()?.FrameworkName ?? ".NETCoreApp,Version=v10.0");
        var moniker = $"net{framework.Version.Major}.{framework.Version.Minor}";
        return Path.Combine(Path.GetDirectoryName(projectPath)!, "bin", configuration, moniker, Path.GetFileNameWithoutExtension(projectPath) + ".dll");
    }
}
