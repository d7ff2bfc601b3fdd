namespace Aspire.Hosting.ApplicationModel;

/// <summary>A Next.js application, served by <c>next dev</c> or by <c>next start</c> over a production build.</summary>
/// <param name="name">The resource name.</param>
/// <param name="appDirectory">The folder holding package.json.</param>
/// <param name="mode">Development server or production build.</param>
public sealed class NextJsAppResource(string name, string appDirectory, NextJsMode mode)
    : ExecutableResource(name, "node", appDirectory), IResourceWithServiceDiscovery
{
    internal const string HttpEndpointName = "http";

    /// <summary>How the application is served.</summary>
    public NextJsMode Mode { get; } = mode;

    /// <summary>The HTTP endpoint Next.js listens on.</summary>
    public EndpointReference HttpEndpoint => field ??= new(this, HttpEndpointName);

    /// <summary>The Next.js command line, run with node directly so stop signals reach the server (no npm in between).</summary>
    public string NextCli => Path.Combine(WorkingDirectory, "node_modules", "next", "dist", "bin", "next");

    /// <summary>The self-contained server of a production build (<c>output: 'standalone'</c>), the same one the container runs.</summary>
    public string StandaloneServer => Path.Combine(WorkingDirectory, ".next", "standalone", "server.js");
}

/// <summary>How a Next.js application is served.</summary>
public enum NextJsMode
{
    /// <summary><c>next build</c> when the sources changed, then the standalone server: exactly what the container runs.</summary>
    Production,

    /// <summary><c>next dev</c>: hot reload, pages compiled on first request.</summary>
    Development,
}
