namespace Aspire.Hosting.ApplicationModel;

/// <summary>A Python ASGI application served by uvicorn.</summary>
/// <param name="name">The resource name.</param>
/// <param name="command">The Python interpreter.</param>
/// <param name="appDirectory">The folder the application's package is imported from.</param>
public sealed class UvicornAppResource(string name, string command, string appDirectory)
    : ExecutableResource(name, command, appDirectory), IResourceWithServiceDiscovery
{
    internal const string HttpEndpointName = "http";

    /// <summary>The HTTP endpoint uvicorn listens on.</summary>
    public EndpointReference HttpEndpoint => field ??= new(this, HttpEndpointName);
}
