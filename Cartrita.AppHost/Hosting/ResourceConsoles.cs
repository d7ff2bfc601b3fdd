using Microsoft.Extensions.Hosting;

namespace Cartrita.AppHost.Hosting;

/// <summary>
/// Every resource's console as it arrives, from the moment the AppHost starts. Log streams are named by instance id
/// (DCP streams a process's or container's output under it, and the AppHost's own lines about a resource go there once
/// the id exists); the ids appear with the resource's first state, so they are followed as they show up, and the stream
/// named after the resource catches what was written for it before.
/// One follower per AppHost (a DI singleton), whatever reads the consoles: the terminal's failure tails and the log files.
/// </summary>
internal sealed class ResourceConsoles(
    DistributedApplicationModel model, ResourceNotificationService notifications, ResourceLoggerService logs, IHostApplicationLifetime lifetime)
{
    private readonly HashSet<string> _followed = [];
    private readonly List<Action<IResource, IReadOnlyList<LogLine>>> _readers = [];

    /// <summary>
    /// Calls <paramref name="onLines"/> with each batch of lines of a resource (parameters have none) until the AppHost has
    /// stopped (a server's last words come while it stops). Subscribe before the resources start (BeforeStartEvent).
    /// </summary>
    public void Subscribe(Action<IResource, IReadOnlyList<LogLine>> onLines)
    {
        bool first;
        lock (_readers)
        {
            first = _readers.Count == 0;
            _readers.Add(onLines);
        }
        if (!first)
        {
            return;
        }
        var stopped = lifetime.ApplicationStopped;
        foreach (var resource in model.Resources.Where(resource => resource is not ParameterResource))
        {
            Follow(resource, resource.Name, stopped);
        }
        _ = FollowInstancesAsync(stopped);
    }

    private void Dispatch(IResource resource, IReadOnlyList<LogLine> batch)
    {
        Action<IResource, IReadOnlyList<LogLine>>[] readers;
        lock (_readers)
        {
            readers = [.. _readers];
        }
        foreach (var reader in readers)
        {
            reader(resource, batch);
        }
    }

    private async Task FollowInstancesAsync(CancellationToken stopping)
    {
        try
        {
            await foreach (var change in notifications.WatchAsync(stopping).ConfigureAwait(false))
            {
                if (change.Resource is not ParameterResource)
                {
                    Follow(change.Resource, change.ResourceId, stopping);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    private void Follow(IResource resource, string logName, CancellationToken stopping)
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
                    Dispatch(resource, batch);
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
