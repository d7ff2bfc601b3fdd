namespace Aspire.Hosting;

/// <summary>
/// Publish-mode shapes for Cartrita's resources, so that <c>aspire-manifest.json</c> describes only what a deployment tool
/// can run: container images and container builds (no <c>executable.v0</c>, no <c>project.v0</c>), with bindings that
/// pass Aspire's manifest schema. Nothing here changes run mode.
/// </summary>
public static class DockerfilePublishingExtensions
{
    /// <summary>The endpoint schemes Aspire's manifest schema (<c>aspire-8.0.json</c>) accepts for a binding.</summary>
    private static readonly string[] SchemaSchemes = ["http", "https", "tcp", "udp"];

    /// <summary>
    /// In publish mode, writes the resource to the manifest as a <c>dockerfile.v0</c> build of <paramref name="dockerfile"/>
    /// with its environment and bindings (and gives the model the same Dockerfile and context, for tools that build
    /// from it); when <paramref name="containerPort"/> is given, the <c>http</c> endpoint's target
    /// port becomes that port (the port the image listens on, whatever port run mode picked).
    /// Works for projects (which would otherwise be <c>project.v0</c>) and for executables (otherwise <c>executable.v0</c>,
    /// or <c>container.v1</c> after <c>PublishAsDockerFile</c>).
    /// </summary>
    /// <typeparam name="T">The resource type.</typeparam>
    /// <param name="builder">The resource builder.</param>
    /// <param name="dockerfile">The Dockerfile, relative to the AppHost project.</param>
    /// <param name="context">The build context, relative to the AppHost project; the Dockerfile's folder by default.</param>
    /// <param name="containerPort">The port the image listens on for the <c>http</c> endpoint.</param>
    /// <returns>The resource builder.</returns>
    public static IResourceBuilder<T> PublishAsDockerfileBuild<T>(
        this IResourceBuilder<T> builder, string dockerfile, string? context = null, int? containerPort = null)
        where T : IResourceWithEnvironment
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (!builder.ApplicationBuilder.ExecutionContext.IsPublishMode)
        {
            return builder;
        }

        var appHostDirectory = builder.ApplicationBuilder.AppHostDirectory;
        var dockerfilePath = Path.GetFullPath(dockerfile, appHostDirectory);
        var contextPath = Path.GetFullPath(context ?? Path.GetDirectoryName(dockerfilePath)!, appHostDirectory);

        if (containerPort is int port)
        {
            var http = builder.Resource.Annotations.OfType<EndpointAnnotation>().SingleOrDefault(e => e.Name == "http")
                ?? throw new InvalidOperationException($"Resource '{builder.Resource.Name}' has no 'http' endpoint to give container port {port}.");
            http.TargetPort = port;
        }

        var resource = builder.Resource;
        return builder
            .WithAnnotation(new DockerfileBuildAnnotation(contextPath, dockerfilePath, stage: null), ResourceAnnotationMutationBehavior.Replace)
            .WithManifestPublishingCallback(async manifest =>
            {
                manifest.Writer.WriteString("type", "dockerfile.v0");
                manifest.Writer.WriteString("path", manifest.GetManifestRelativePath(dockerfilePath));
                manifest.Writer.WriteString("context", manifest.GetManifestRelativePath(contextPath));
                await manifest.WriteEnvironmentVariablesAsync(resource).ConfigureAwait(false);
                manifest.WriteBindings(resource);
            });
    }

    /// <summary>
    /// In publish mode, gives endpoints whose scheme the manifest schema does not know (Redis's <c>redis</c>) the plain
    /// <c>tcp</c> scheme. Connection strings are built from host and port, so they do not change.
    /// </summary>
    /// <typeparam name="T">The resource type.</typeparam>
    /// <param name="builder">The resource builder.</param>
    /// <returns>The resource builder.</returns>
    public static IResourceBuilder<T> PublishWithSchemaSchemes<T>(this IResourceBuilder<T> builder)
        where T : IResource
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (builder.ApplicationBuilder.ExecutionContext.IsPublishMode)
        {
            foreach (var endpoint in builder.Resource.Annotations.OfType<EndpointAnnotation>())
            {
                if (!SchemaSchemes.Contains(endpoint.UriScheme))
                {
                    endpoint.UriScheme = "tcp";
                }
            }
        }
        return builder;
    }
}
