using Cartrita.Publishing.Manifest;

namespace Cartrita.Publishing.Deployment;

/// <summary>Whether a workload runs until stopped or to completion.</summary>
public enum WorkloadRole
{
    /// <summary>Runs until stopped (a Compose service with a restart policy; a Kubernetes Deployment or StatefulSet).</summary>
    Service,

    /// <summary>Runs to completion, once per deployment (a migration worker; a Kubernetes Job).</summary>
    Job,
}

/// <summary>When a dependent may start.</summary>
public enum DependencyCondition
{
    /// <summary>Once the dependency has started.</summary>
    Started,

    /// <summary>Once the dependency is healthy.</summary>
    Healthy,

    /// <summary>Once the dependency (a job) has finished successfully.</summary>
    Completed,
}

/// <summary>Where a workload's image comes from.</summary>
public abstract record WorkloadImage;

/// <summary>A published image (<c>docker.io/library/redis:7.0.15</c>).</summary>
public sealed record ImageReference(string Image) : WorkloadImage;

/// <summary>An image built from a Dockerfile, tagged <paramref name="ImageName"/>.</summary>
/// <param name="Context">The build context (absolute).</param>
/// <param name="Dockerfile">The Dockerfile (absolute).</param>
/// <param name="Args">Build arguments.</param>
/// <param name="ImageName">The repository the built image is tagged with (<c>cartrita/ai-orchestrator</c>).</param>
public sealed record ImageBuild(string Context, string Dockerfile, IReadOnlyDictionary<string, string> Args, string ImageName) : WorkloadImage;

/// <summary>The image <c>dotnet publish /t:PublishContainer</c> makes of a .NET project, tagged <paramref name="ImageName"/>.</summary>
public sealed record ProjectImage(string ProjectPath, string ImageName) : WorkloadImage;

/// <summary>An environment variable.</summary>
public sealed record WorkloadVariable(string Name, ResolvedValue Value);

/// <summary>A port the workload listens on.</summary>
/// <param name="Name">The binding name (<c>http</c>, <c>tcp</c>).</param>
/// <param name="Scheme">The binding scheme.</param>
/// <param name="ContainerPort">The port inside the container (also the in-network port).</param>
/// <param name="HostPort">The port to publish on the host for an external binding.</param>
/// <param name="External">Whether the binding is reachable from outside the deployment.</param>
public sealed record WorkloadPort(string Name, string Scheme, int ContainerPort, int HostPort, bool External);

/// <summary>A start-order dependency.</summary>
public sealed record WorkloadDependency(string Target, DependencyCondition Condition);

/// <summary>How a workload's health is checked.</summary>
/// <param name="HttpPath">An HTTP path answering 200 when healthy (Kubernetes probes), if any.</param>
/// <param name="Command">A command (exec form) exiting 0 when healthy, if any.</param>
/// <param name="ComposeTest">The Compose healthcheck test (<c>CMD …</c> or <c>CMD-SHELL …</c>), if any.</param>
public sealed record WorkloadHealth(
    string? HttpPath,
    IReadOnlyList<string>? Command,
    IReadOnlyList<string>? ComposeTest,
    int IntervalSeconds,
    int TimeoutSeconds,
    int Retries,
    int StartPeriodSeconds);

/// <summary>A path that must be writable although the root filesystem is read-only: a tmpfs (Compose), a memory emptyDir (Kubernetes).</summary>
/// <param name="Path">The path in the container.</param>
/// <param name="Size">The most it may hold, in Compose units (<c>64M</c>).</param>
/// <param name="Mode">Its permissions, octal (<c>1777</c>): a fresh tmpfs is root's, and the workload is not root.</param>
/// <param name="ImageDirectory">
/// Set when the image itself makes this directory for its user (PostgreSQL's socket directory): the directory's real
/// path in the image. Compose then mounts a volume there instead of a tmpfs (see <see cref="KnownImage.ImageDirectories"/>).
/// </param>
public sealed record WritablePath(string Path, string Size, string Mode, string? ImageDirectory = null);

/// <summary>CPU and memory for a workload, in Compose units (memory <c>512M</c>, CPUs <c>0.5</c>).</summary>
public sealed record WorkloadResources(string LimitMemory, string LimitCpus, string ReservedMemory, string ReservedCpus);

/// <summary>
/// One runnable resource of the manifest with everything a target needs settled: image, command, environment with every
/// expression resolved, ports, user, writable paths, limits, health, dependencies and the network paths it uses.
/// </summary>
public sealed record Workload
{
    /// <summary>The resource name.</summary>
    public required string Name { get; init; }

    /// <summary>The DNS name (Compose service, host in connection strings, Kubernetes objects): <see cref="DnsName.Slug"/> of the resource name.</summary>
    public string ServiceName => DnsName.Slug(Name);

    /// <summary>The manifest resource.</summary>
    public required WorkloadResource Resource { get; init; }

    /// <summary>Service or job.</summary>
    public required WorkloadRole Role { get; init; }

    /// <summary>Where the image comes from.</summary>
    public required WorkloadImage Image { get; init; }

    /// <summary>The manifest's entrypoint override, if any.</summary>
    public string? Entrypoint { get; init; }

    /// <summary>The manifest's arguments (replacing the image's CMD), if any.</summary>
    public IReadOnlyList<ResolvedValue>? Args { get; init; }

    /// <summary>The whole command the container runs (entrypoint and arguments), when it is known.</summary>
    public IReadOnlyList<ResolvedValue>? Command { get; init; }

    /// <summary>The environment, in manifest order, then the profile's additions.</summary>
    public required IReadOnlyList<WorkloadVariable> Environment { get; init; }

    /// <summary>Extra variables for Kubernetes only.</summary>
    public required IReadOnlyDictionary<string, string> KubernetesEnvironment { get; init; }

    /// <summary>Variables the image reads from <c>NAME_FILE</c> by itself.</summary>
    public required IReadOnlySet<string> FileEnvironment { get; init; }

    /// <summary>The ports.</summary>
    public required IReadOnlyList<WorkloadPort> Ports { get; init; }

    /// <summary>Named volumes.</summary>
    public required IReadOnlyList<Volume> Volumes { get; init; }

    /// <summary>Host paths mounted in (relative to the manifest).</summary>
    public required IReadOnlyList<BindMount> BindMounts { get; init; }

    /// <summary>The user id.</summary>
    public required long UserId { get; init; }

    /// <summary>The group id.</summary>
    public required long GroupId { get; init; }

    /// <summary>Paths that must be writable although the root filesystem is read-only.</summary>
    public required IReadOnlyList<WritablePath> WritablePaths { get; init; }

    /// <summary>The signal that stops the workload cleanly and quickly, when it is not SIGTERM (Compose <c>stop_signal</c>).</summary>
    public string? StopSignal { get; init; }

    /// <summary>
    /// A command that stops the server cleanly before Kubernetes sends SIGTERM (a preStop hook), for servers whose SIGTERM
    /// is a slow shutdown (Kubernetes has no stop signal of its own).
    /// </summary>
    public IReadOnlyList<string>? PreStop { get; init; }

    /// <summary>Limits and reservations.</summary>
    public required WorkloadResources Resources { get; init; }

    /// <summary>The health check, if the workload has one.</summary>
    public WorkloadHealth? Health { get; init; }

    /// <summary>Start-order dependencies.</summary>
    public required IReadOnlyList<WorkloadDependency> Dependencies { get; init; }

    /// <summary>The workloads this one connects to (from its environment and arguments), itself excluded.</summary>
    public required IReadOnlySet<string> References { get; init; }

    /// <summary>Whether the workload calls the internet.</summary>
    public bool InternetEgress { get; init; }

    /// <summary>
    /// Whether its external bindings are meant to be reached through a proxy (<see cref="ResourceProfile.Exposure"/>
    /// <c>proxied</c>) rather than directly: Compose publishes them on the workload's own bind address setting, Kubernetes
    /// admits only its callers and <see cref="IngressNamespaces"/>.
    /// </summary>
    public bool Proxied { get; init; }

    /// <summary>Namespaces (by name) whose pods may reach a proxied workload's external ports: the ingress controller's.</summary>
    public IReadOnlyList<string> IngressNamespaces { get; init; } = [];

    /// <summary>Kubernetes replicas.</summary>
    public int Replicas { get; init; } = 1;

    /// <summary>Kubernetes autoscaling, if any.</summary>
    public AutoscaleProfile? Autoscale { get; init; }

    /// <summary>The size of each persistent volume claim.</summary>
    public string Storage { get; init; } = "1Gi";

    /// <summary>The Compose restart policy.</summary>
    public required string Restart { get; init; }

    /// <summary>Whether any binding is external.</summary>
    public bool IsExternal => Ports.Any(p => p.External);

    /// <summary>The user as <c>uid:gid</c>.</summary>
    public string User => $"{UserId}:{GroupId}";
}
