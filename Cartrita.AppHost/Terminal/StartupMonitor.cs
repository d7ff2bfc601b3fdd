using System.Globalization;
using Cartrita.AppHost.Hosting;
using Cartrita.AppHost.Infrastructure;
using Cartrita.AppHost.Parameters;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Cartrita.AppHost.Terminal;

/// <summary>
/// Follows every resource from the moment the AppHost starts and tells the terminal what happens, as <c>aspire run</c>
/// does: each state change, then one ready summary with the URLs; or, when a resource fails while the stack starts (it
/// fails to start, exits, its container runtime is unhealthy, a check reports a cause that will not go away, or it is
/// not ready after <see cref="CartritaOptions.StartupOptions.TimeoutSeconds"/>), its name, the reason, its last log
/// lines and the fix; the run's exit code becomes 1 and, unless the dashboard is to stay open, the AppHost stops.
/// </summary>
internal sealed class StartupMonitor(
    DistributedApplicationModel model,
    ResourceNotificationService notifications,
    ResourceConsoles consoles,
    SecretMask mask,
    IHostApplicationLifetime lifetime,
    CartritaOptions.StartupOptions options,
    bool keepOpenOnFailure,
    FailureContext context,
    StartupTerminal terminal)
{
    /// <summary>Exit code of an AppHost whose stack could not start.</summary>
    public const int StartupFailedExitCode = 1;

    private const int TailLines = 15;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Tracked> _resources = [];
    private readonly Dictionary<string, ResourceLogTail> _tails = [];
    private readonly long _timeoutMilliseconds = options.TimeoutSeconds * 1000L;
    private readonly long _started = Environment.TickCount64;
    private bool _ready;
    private bool _failed;

    /// <summary>What one resource is expected to reach, and where it is.</summary>
    private sealed class Tracked(IResource resource, bool runsOnce, bool hasHealthChecks, bool servesEndpoints)
    {
        public IResource Resource { get; } = resource;

        /// <summary>A run-to-completion resource (something waits for it to finish): ready when it exits 0.</summary>
        public bool RunsOnce { get; } = runsOnce;

        public bool HasHealthChecks { get; } = hasHealthChecks;

        /// <summary>A server: exiting, even with 0, means it is gone. Anything else that exits 0 has done its job.</summary>
        public bool IsServer => HasHealthChecks || servesEndpoints;

        public string? State { get; set; }

        /// <summary>The last state line printed, so that a state Aspire publishes twice prints once.</summary>
        public string? Printed { get; set; }

        public bool Hidden { get; set; }

        public HealthStatus? Health { get; set; }

        public bool WasHealthy { get; set; }

        /// <summary>When it left NotStarted/Waiting (Environment.TickCount64): its time to be ready counts from there.</summary>
        public long? ActiveSince { get; set; }

        public CustomResourceSnapshot? Snapshot { get; set; }

        public bool HasExited => State == KnownResourceStates.Finished || State == KnownResourceStates.Exited;

        public bool IsReady => HasExited
            ? (RunsOnce || !IsServer) && Snapshot?.ExitCode is 0 or null
            : !RunsOnce && State == KnownResourceStates.Running && (!HasHealthChecks || Health == HealthStatus.Healthy);
    }

    /// <summary>Starts following the resources in the background; ends when the AppHost stops.</summary>
    public void Start()
    {
        var runOnce = model.Resources
            .SelectMany(resource => resource.Annotations.OfType<WaitAnnotation>())
            .Where(wait => wait.WaitType == WaitType.WaitForCompletion)
            .Select(wait => wait.Resource.Name)
            .ToHashSet();
        // A resource started only from the dashboard is not part of "the stack is ready".
        foreach (var resource in model.Resources.Where(r => r is not ParameterResource && !r.Annotations.OfType<ExplicitStartupAnnotation>().Any()))
        {
            _resources[resource.Name] = new Tracked(resource, runOnce.Contains(resource.Name),
                // A database is checked by its own checks, and a child may inherit its parent's.
                hasHealthChecks: resource.TryGetAnnotationsIncludingAncestorsOfType<HealthCheckAnnotation>(out var checks) && checks.Any(),
                servesEndpoints: resource.Annotations.OfType<EndpointAnnotation>().Any());
            _tails[resource.Name] = new ResourceLogTail(TailLines);
        }

        var stopping = lifetime.ApplicationStopping;
        consoles.Subscribe((resource, batch) => _tails.GetValueOrDefault(resource.Name)?.Add(batch));
        _ = ReportingErrorsAsync(() => FollowStatesAsync(stopping), stopping);
        _ = ReportingErrorsAsync(() => WatchTimeoutsAsync(stopping), stopping);
    }

    /// <summary>A report that stops must say so: the user would otherwise wait for lines that never come.</summary>
    private static async Task ReportingErrorsAsync(Func<Task> follow, CancellationToken stopping)
    {
        try
        {
            await follow().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            try
            {
                await Console.Error.WriteLineAsync($"cartrita: the terminal report stopped ({ex.GetType().Name}: {ex.Message}); the dashboard still shows every resource.").ConfigureAwait(false);
            }
            catch (IOException)
            {
                // The terminal itself is gone.
            }
        }
    }

    private async Task FollowStatesAsync(CancellationToken stopping)
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
                tracked.ActiveSince ??= Environment.TickCount64;
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

    private static string Describe(Tracked tracked) =>
        tracked.HasExited && tracked.Snapshot?.ExitCode is { } code
            ? $"{tracked.State} (exit code {code.ToString(CultureInfo.InvariantCulture)})"
            : tracked.State ?? "";

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
            : tracked.HasExited && !tracked.IsReady
                ? exitCode is { } code ? $"it exited with code {code.ToString(CultureInfo.InvariantCulture)}" : "it exited"
            : KnownFailures.FatalHealthReport(tracked.Snapshot?.HealthReports ?? []) is { } report ? $"its health check fails: {report}"
            : null;
        return reason is null ? null : new Failure(tracked.Resource, reason);
    }

    /// <summary>Until the stack is ready: a resource that is not ready past the limit has failed.</summary>
    private async Task WatchTimeoutsAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
        {
            Failure? failure = null;
            lock (_gate)
            {
                if (_ready || _failed)
                {
                    return;
                }
                var now = Environment.TickCount64;
                // Waiting for a dependency is the dependency's delay; a resource that never reported a state counts from the start.
                var late = _resources.Values.FirstOrDefault(r =>
                    !r.Hidden && !r.IsReady && r.State != KnownResourceStates.Waiting
                    && now - (r.ActiveSince ?? (r.State is null ? _started : now)) > _timeoutMilliseconds);
                if (late is not null)
                {
                    var health = late.Snapshot?.HealthReports
                        .Where(report => report.Status != HealthStatus.Healthy)
                        .Select(KnownFailures.HealthText)
                        .FirstOrDefault(text => text.Length > 0);
                    var where = late.RunsOnce ? "it has not finished"
                        : late.State == KnownResourceStates.Running ? "it is running but not healthy"
                        : $"it is still {late.State ?? "without a state"}";
                    failure = new Failure(late.Resource,
                        $"{where} after {options.TimeoutSeconds} s" + (health is null ? "" : $" (health check: {health})"),
                        TimedOut: true);
                }
            }
            if (failure is not null)
            {
                await FailAsync(failure, stopping).ConfigureAwait(false);
            }
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
        // Whatever happens next (Ctrl+C while this is printed, or a dashboard kept open), this run failed.
        Environment.ExitCode = StartupFailedExitCode;

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
        var diagnosis = KnownFailures.Diagnose(subject, snapshot?.State?.Text, snapshot?.HealthReports ?? [], lines, context, failure.TimedOut);
        var stop = !keepOpenOnFailure && !lifetime.ApplicationStopping.IsCancellationRequested;
        terminal.Failure(subject.Name, reason, diagnosis, lines, mask, stop);
        if (stop)
        {
            lifetime.StopApplication();
        }
    }

    private sealed record Failure(IResource Resource, string Reason, bool TimedOut = false);
}
