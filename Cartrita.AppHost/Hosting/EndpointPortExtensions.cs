namespace Aspire.Hosting;

/// <summary>Endpoint helpers shared by Cartrita's hosting integrations.</summary>
public static class EndpointPortExtensions
{
    /// <summary>
    /// Pins the endpoint <paramref name="endpointName"/> to <paramref name="port"/> on both sides (these endpoints are not
    /// proxied: the process itself listens there). <see langword="null"/> leaves the choice of a free port to the orchestrator.
    /// </summary>
    /// <param name="builder">The resource builder.</param>
    /// <param name="port">The port, or <see langword="null"/> for any free port.</param>
    /// <param name="endpointName">The endpoint to pin; <c>http</c> by default.</param>
    /// <returns>The resource builder.</returns>
    public static IResourceBuilder<T> WithPort<T>(this IResourceBuilder<T> builder, int? port, string endpointName = "http")
        where T : IResourceWithEndpoints
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.WithEndpoint(endpointName, endpoint =>
        {
            endpoint.Port = port;
            endpoint.TargetPort = port;
        });
    }
}
