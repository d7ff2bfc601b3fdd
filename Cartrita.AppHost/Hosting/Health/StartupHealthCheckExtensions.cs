using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Aspire.Hosting;

/// <summary>Makes a resource's health checks notice readiness within a fraction of a second while it starts.</summary>
public static class StartupHealthCheckExtensions
{
    private static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan DefaultBudget = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Until the resource has been healthy once, each of its health checks re-runs itself every
    /// <paramref name="interval"/> (default 100 ms) inside one check, for up to <paramref name="budget"/> (default 10 s),
    /// before reporting a failure. Aspire checks a resource as soon as it is Running and, while it is unhealthy, waits
    /// 1 s, 2 s, … up to 5 s between checks: a server that accepts connections 0.2 s after starting is otherwise seen
    /// healthy a second or more later, and everything that <c>WaitFor</c>s it starts that much later too. Once healthy,
    /// the checks run as registered, so the dashboard still follows outages at Aspire's own pace.
    /// </summary>
    /// <typeparam name="T">The resource type.</typeparam>
    /// <param name="builder">The resource builder; applies to every health check it has when the application starts.</param>
    /// <param name="interval">How often to re-check while starting.</param>
    /// <param name="budget">How long one check may keep re-checking.</param>
    /// <returns>The resource builder.</returns>
    public static IResourceBuilder<T> WithStartupHealthPolling<T>(
        this IResourceBuilder<T> builder, TimeSpan? interval = null, TimeSpan? budget = null)
        where T : IResource
    {
        ArgumentNullException.ThrowIfNull(builder);
        var resource = builder.Resource;
        var polling = new StartupPolling(interval ?? DefaultInterval, budget ?? DefaultBudget);

        // Post-configured so that health checks added to the resource after this call are covered too.
        builder.ApplicationBuilder.Services.PostConfigure<HealthCheckServiceOptions>(options =>
        {
            var keys = resource.Annotations.OfType<HealthCheckAnnotation>().Select(a => a.Key).ToHashSet();
            foreach (var registration in options.Registrations.Where(r => keys.Contains(r.Name)))
            {
                var inner = registration.Factory;
                registration.Factory = services => new StartupPollingHealthCheck(inner(services), polling);
            }
        });
        return builder;
    }

    /// <summary>Shared by one resource's checks: polling stops for all of them once the resource was healthy.</summary>
    private sealed class StartupPolling(TimeSpan interval, TimeSpan budget)
    {
        public TimeSpan Interval { get; } = interval;

        public TimeSpan Budget { get; } = budget;

        public volatile bool WasHealthy;
    }

    private sealed class StartupPollingHealthCheck(IHealthCheck inner, StartupPolling polling) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var deadline = DateTime.UtcNow + polling.Budget;
            while (true)
            {
                HealthCheckResult result;
                try
                {
                    result = await inner.CheckHealthAsync(context, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // What the health check service would report for a throwing check; keep polling.
                    result = new HealthCheckResult(context.Registration.FailureStatus, ex.Message, ex);
                }
                if (result.Status == HealthStatus.Healthy)
                {
                    polling.WasHealthy = true;
                    return result;
                }
                if (polling.WasHealthy || DateTime.UtcNow + polling.Interval > deadline)
                {
                    return result;
                }
                await Task.Delay(polling.Interval, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
