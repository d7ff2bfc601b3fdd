namespace Cartrita.AppHost.Hosting;

/// <summary>
/// Every resource's console as it arrives, from the moment the AppHost starts: the log stream named after the resource
/// (what the AppHost itself writes about it) and the stream of each of its instances (the process's or container's own
/// output, which DCP streams under the instance id the resource gets when it starts).
/// </summary>
internal sealed class ResourceConsoles(DistributedApplicationModel model, ResourceNotificationService notifications, ResourceLoggerService logs)
{
    private readonly HashSet<string> _followed = [];

    /// <summary>Calls <paramref name="onLines"/> with each batch of lines of a resource (parameters have none), until <paramref name="stopping"/>.</summary>
    public void Start(Action<IResource, IReadOnlyList<LogLine>> onLines, CancellationToken stopping)
    {
        foreach (var resource in model.Resources.Where(resource => resource is not ParameterResource))
        {
            Follow(resource, resource.Name, onLines, stopping);
        }
        _ = FollowInstancesAsync(onLines, stopping);
    }

    private async Task FollowInstancesAsync(Action<IResource, IReadOnlyList<LogLine>> onLines, CancellationToken stopping)
    {
        try
        {
            await foreach (var change in notifications.WatchAsync(stopping).ConfigureAwait(false))
            {
                if (change.Resource is not ParameterResource)
                {
                    Follow(change.Resource, change.ResourceId, onLines, stopping);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    private void Follow(IResource resource, string logName, Action<IResource, IReadOnlyList<LogLine>> onLines, CancellationToken stopping)
    {
        lock (_followed)
        {
            if (!_followed.Add(logName))
            {
                return;
            }
        }
        _ = Task.Run(async () =>
        {
            try
            {
                await foreach (var batch in logs.WatchAsync(logName).WithCancellation(stopping).ConfigureAwait(false))
                {
                    onLines(resource, batch);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
            }
        }, stopping);
    }
}
