using Cartrita.AppHost.Preflight;

namespace Aspire.Hosting;

/// <summary>Checks, before anything starts, that every fixed port in the model is free.</summary>
public static class PortPreflightExtensions
{
    /// <summary>
    /// Before any resource starts, checks that no other process listens on a fixed port of the model (endpoints with a
    /// port set). A taken port stops the AppHost with a message naming the port, the resource and the owning process, so
    /// nothing is half-started.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <returns>The builder.</returns>
    public static IDistributedApplicationBuilder EnsurePortsAreFree(this IDistributedApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (!builder.ExecutionContext.IsRunMode)
        {
            return builder;
        }
        builder.Eventing.Subscribe<BeforeStartEvent>((@event, _) =>
        {
            var conflicts =
                from resource in @event.Model.Resources
                from endpoint in resource.Annotations.OfType<EndpointAnnotation>()
                where endpoint.Port is > 0
                let owner = ListeningPorts.FindOwner(endpoint.Port!.Value)
                where owner is not null
                select $"  - port {endpoint.Port} ({resource.Name}) is taken by {owner}";

            var problems = conflicts.ToList();
            if (problems.Count > 0)
            {
                throw new DistributedApplicationException(
                    "Cannot start: ports Cartrita needs are in use.\n" + string.Join('\n', problems) +
                    "\nStop those processes, or choose other ports with Cartrita:Ports:* (for example --Cartrita:Ports:Postgres=5433).");
            }
            return Task.CompletedTask;
        });
        return builder;
    }
}
