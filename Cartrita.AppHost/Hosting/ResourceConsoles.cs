namespace Cartrita.AppHost.Hosting;

/// <summary>
/// Every resource's console as it arrives, from the moment the AppHost starts. Log streams are named by instance id
/// (DCP streams a process's or container's output under it, and the AppHost's own lines about a resource go there once
/// the id exists); the ids appear with the resource's first state, so they are followed as they show up, and the stream
/// named after the resource catches what was written for it before.
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
            catch (Exception ex)
            {
                // A copy that stops (a full disk, a closed terminal) must not end in silence.
                Console.Error.WriteLine($"cartrita: stopped following {logName}'s console ({ex.GetType().Name}: {ex.Message})");
            }
        }, stopping);
    }
}
