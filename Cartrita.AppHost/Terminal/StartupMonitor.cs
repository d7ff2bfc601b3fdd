using System.Diagnostics;
using System.Globalization;
using Cartrita.AppHost.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Cartrita.AppHost.Terminal;

/// <summary>
/// Follows every resource from the moment the AppHost starts and tells the terminal what happens, as <c>aspire run</c>
/// does: each state change, then one ready summary with the URLs; or, when a resource fails while the stack starts (it
/// fails to start, exits, its container runtime is unhealthy, a check reports a cause that will not go away, or it stays
/// unhealthy past <see cref="StartupOptions.TimeoutSeconds"/>), its name, the reason, its last log lines and the fix,
/// and then stops the AppHost with exit code 1 unless <see cref="StartupOptions.KeepOpenOnFailure"/>.
/// </summary>
internal sealed class StartupMonitor(
    DistributedApplicationModel model,
    ResourceNotificationService notifications,
    ResourceLoggerService logs,
    IHostApplicationLifetime lifetime,
    StartupOptions options,
    FailureContext context,
    StartupTerminal terminal)
{
    /// <summary>Exit code of an AppHost stopped because its stack could not start.</summary>
    public const int StartupFailedExitCode = 1;

    private const int TailLines = 15;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Tracked> _resources = [];
    private readonly Dictionary<string, ResourceLogTail> _tails = [];
    private readonly TimeSpan _timeout = TimeSpan.FromSeconds(options.TimeoutSeconds);
    private bool _ready;
    private bool _failed;

    /// <summary>What one resource is expected to reach, and where it is.</summary>
    private sealed class Tracked(IResource resource, bool runsOnce)
    {
        public IResource Resource { get; } = resource;

        /// <summary>A run-to-completion resource (something waits for it to finish): ready when it exits 0.</summary>
        public bool RunsOnce { get; } = runsOnce;

        public string? State { get; set; }

        /// <summary>The last state line printed, so that a state Aspire publishes twice prints once.</summary>
        public string? Printed { get; set; }

        public bool Hidden { get; set; }

        public HealthStatus? Health { get; set; }

        public bool HasHealthChecks { get; set; }

        public bool WasHealthy { get; set; }

        public DateTime? ActiveSince { get; set; }

        public CustomResourceSnapshot? Snapshot { get; set; }

        public bool IsReady => RunsOnce
            ? State == KnownResourceStates.Finished && Snapshot?.ExitCode is 0 or null
            : State == KnownResourceStates.Running && (!HasHealthChecks || Health == HealthStatus.Healthy);
    }

    /// <summary>Starts following the resources in the background; ends when the AppHost stops.</summary>
    public void Start()
    {
        var runOnce = model.Resources
            .SelectMany(resource => resource.Annotations.OfType<WaitAnnotation>())
            .Where(wait => wait.WaitType == WaitType.WaitForCompletion)
            .Select(wait => wait.Resource.Name)
            .ToHashSet();
        foreach (var resource in model.Resources.Where(resource => resource is not ParameterResource))
        {
            _resources[resource.Name] = new Tracked(resource, runOnce.Contains(resource.Name))
            {
                HasHealthChecks = resource.Annotations.OfType<HealthCheckAnnotation>().Any(),
            };
            _tails[resource.Name] = new ResourceLogTail(TailLines);
        }

        var stopping = lifetime.ApplicationStopping;
        new ResourceConsoles(model, notifications, logs).Start((resource, batch) => _tails.GetValueOrDefault(resource.Name)?.Add(batch), stopping);
        _ = FollowStatesAsync(stopping);
        _ = WatchTimeoutsAsync(stopping);
    }

    private async Task FollowStatesAsync(CancellationToken stopping)
    {
        try
        {
            await foreach (var change in notifications.WatchAsync(stopping).ConfigureAwait(false))
            {
                Failure? failure;
                lock (_gate)
                {
                    if (!_resources.TryGetValue(change.Resource.Name, out var tracked))
                    {
                        continue;
                    }
                    failure = Apply(tracked, change.Snapshot);
                }
                if (failure is not null)
                {
                    await FailAsync(failure, stopping).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>Records a snapshot, prints what changed, and returns a failure when it is one. Under the lock.</summary>
    private Failure? Apply(Tracked tracked, CustomResourceSnapshot snapshot)
    {
        var name = tracked.Resource.Name;
        var previousHealth = tracked.Health;
        tracked.Snapshot = snapshot;
        tracked.Hidden = snapshot.IsHidden;
        tracked.State = snapshot.State?.Text is { Length: > 0 } text ? text : tracked.State;
        tracked.Health = snapshot.HealthStatus;
        if (tracked.Hidden || lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return null;
        }

        if (tracked.State is { } state && Describe(tracked) is var described && described != tracked.Printed)
        {
            if (state != KnownResourceStates.NotStarted && state != KnownResourceStates.Waiting)
            {
                tracked.ActiveSince ??= DateTime.UtcNow;
            }
            tracked.Printed = described;
            terminal.State(name, described);
        }
        if (tracked.Health != previousHealth && tracked.State == KnownResourceStates.Running && tracked.HasHealthChecks)
        {
            if (tracked.Health == HealthStatus.Healthy)
            {
                tracked.WasHealthy = true;
                terminal.State(name, "Healthy");
            }
            else if (tracked.WasHealthy && tracked.Health is not null)
            {
                terminal.State(name, tracked.Health.Value.ToString());
            }
        }

        var failure = FailureOf(tracked);
        if (failure is not null)
        {
            return failure;
        }
        if (!_ready && !_failed && _resources.Values.Where(r => !r.Hidden).All(r => r.IsReady))
        {
            _ready = true;
            terminal.Ready(
                from r in _resources.Values
                where !r.Hidden
                from url in r.Snapshot!.Urls
                where !url.IsInternal && url.Url.StartsWith("http", StringComparison.Ordinal)
                select (r.Resource.Name, url.Url));
        }
        return null;
    }

    private static string Describe(Tracked tracked) => tracked.State switch
    {
        var s when s == KnownResourceStates.Finished || s == KnownResourceStates.Exited =>
            tracked.Snapshot?.ExitCode is { } code ? $"{s} (exit code {code.ToString(CultureInfo.InvariantCulture)})" : s!,
        var s => s ?? "",
    };

    /// <summary>
    /// Why <paramref name="tracked"/> counts as failed now, or <see langword="null"/>. Only while the stack starts: once it
    /// was ready, a resource stopped from the dashboard, or one that comes and goes, is the user's business (the state
    /// lines still say it). Under the lock.
    /// </summary>
    private Failure? FailureOf(Tracked tracked)
    {
        if (_ready || _failed)
        {
            return null;
        }
        var state = tracked.State;
        var exitCode = tracked.Snapshot?.ExitCode;
        var reason =
            state == KnownResourceStates.FailedToStart ? "it failed to start"
            : state == KnownResourceStates.RuntimeUnhealthy ? "the container runtime is not healthy"
            : (state == KnownResourceStates.Exited || state == KnownResourceStates.Finished) && !(tracked.RunsOnce && exitCode is 0 or null)
                ? exitCode is { } code ? $"it exited with code {code.ToString(CultureInfo.InvariantCulture)}" : "it exited"
            : KnownFailures.FatalHealthReport(tracked.Snapshot) is { } report ? $"its health check fails: {report}"
            : null;
        return reason is null ? null : new Failure(tracked.Resource, reason);
    }

    /// <summary>Until the stack is ready: a resource active but not ready past the limit has failed.</summary>
    private async Task WatchTimeoutsAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                Failure? failure = null;
                lock (_gate)
                {
                    if (_ready || _failed)
                    {
                        return;
                    }
                    var late = _resources.Values.FirstOrDefault(r =>
                        !r.Hidden && !r.IsReady && r.ActiveSince is { } since && DateTime.UtcNow - since > _timeout
                        && r.State != KnownResourceStates.Waiting);
                    if (late is not null)
                    {
                        var health = late.Snapshot?.HealthReports
                            .Where(report => report.Status != HealthStatus.Healthy)
                            .Select(KnownFailures.HealthText)
                            .FirstOrDefault(text => text.Length > 0);
                        failure = new Failure(late.Resource,
                            $"it is {(late.State == KnownResourceStates.Running ? "running but not healthy" : $"still {late.State}")} after {options.TimeoutSeconds} s" +
                            (health is null ? "" : $" (health check: {health})"),
                            TimedOut: true);
                    }
                }
                if (failure is not null)
                {
                    await FailAsync(failure, stopping).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    private async Task FailAsync(Failure failure, CancellationToken stopping)
    {
        lock (_gate)
        {
            if (_failed)
            {
                return;
            }
            _failed = true;
        }
        // A database has no console of its own: its server's is the one to read, and the one to name.
        var resource = failure.Resource;
        var (subject, reason) = resource is IResourceWithParent { Parent: var parent } && _tails.ContainsKey(parent.Name)
            ? (parent, $"its database '{resource.Name}': {failure.Reason}")
            : (resource, failure.Reason);
        var tail = _tails[subject.Name];
        // The state change can overtake the resource's last words on their way from its console.
        await tail.QuietAsync(TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(2), stopping).ConfigureAwait(false);
        var lines = tail.Lines();
        CustomResourceSnapshot? snapshot;
        lock (_gate)
        {
            snapshot = _resources[resource.Name].Snapshot;
        }
        var diagnosis = KnownFailures.Diagnose(resource, snapshot, lines, context, failure.TimedOut);
        var stop = !options.KeepOpenOnFailure;
        terminal.Failure(subject.Name, reason, diagnosis, lines, await SecretValuesAsync().ConfigureAwait(false), stop);
        if (stop && !lifetime.ApplicationStopping.IsCancellationRequested)
        {
            Environment.ExitCode = StartupFailedExitCode;
            lifetime.StopApplication();
        }
    }

    /// <summary>The secret parameters' values that are known by now, to mask them in what is printed.</summary>
    private async Task<IReadOnlyCollection<string>> SecretValuesAsync()
    {
        var values = new List<string>();
        foreach (var parameter in model.Resources.OfType<ParameterResource>().Where(p => p.Secret))
        {
            // A parameter still waiting for its value (one the user must enter) must not hold up the report.
            var value = parameter.GetValueAsync(CancellationToken.None).AsTask();
            if (await Task.WhenAny(value, Task.Delay(TimeSpan.FromMilliseconds(200))).ConfigureAwait(false) == value
                && value.IsCompletedSuccessfully && value.Result is { Length: >= 4 } secret)
            {
                values.Add(secret);
            }
        }
        return values;
    }

    private sealed record Failure(IResource Resource, string Reason, bool TimedOut = false);
}

/// <summary>How long the AppHost waits for its stack, and what it does when the stack cannot start.</summary>
public sealed class StartupOptions
{
    /// <summary>A resource that has started but is not healthy (or not finished) after this many seconds has failed.</summary>
    public int TimeoutSeconds { get; set; } = 180;

    /// <summary>
    /// Keep the AppHost and its dashboard running after a resource fails while the stack starts (to look at it there);
    /// by default the AppHost stops and exits with code 1.
    /// </summary>
    public bool KeepOpenOnFailure { get; set; }
}
