using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Cartrita.Publishing.Deployment;

/// <summary>
/// What a deployment needs that an Aspire manifest cannot say: users, resource limits, health checks, which workload is a
/// run-to-completion job, storage sizes, deployment-time settings. Read from a YAML file (Cartrita's is
/// <c>deploy/publish-profile.yaml</c>); every field is optional, and a manifest publishes without any profile.
/// </summary>
public sealed class DeploymentProfile
{
    /// <summary>The application name: Compose network and image prefixes, the Kubernetes namespace, setting prefixes.</summary>
    public string Name { get; set; } = "app";

    /// <summary>The two Compose networks (Kubernetes uses NetworkPolicies instead).</summary>
    public NetworkNames Networks { get; set; } = new();

    /// <summary>Parameter defaults for parameters that are neither secret nor generated (<c>postgres-user: robbie</c>).</summary>
    public Dictionary<string, ParameterProfile> Parameters { get; set; } = [];

    /// <summary>
    /// Deployment-time settings and their defaults, used as <c>${NAME}</c> in <see cref="ResourceProfile.Environment"/>:
    /// Compose reads them from <c>.env</c>; Kubernetes takes the default into the ConfigMap.
    /// </summary>
    public Dictionary<string, string> Settings { get; set; } = [];

    /// <summary>What every workload gets unless its own entry says otherwise.</summary>
    public ResourceProfile Defaults { get; set; } = new();

    /// <summary>Per-resource settings, by resource name.</summary>
    public Dictionary<string, ResourceProfile> Resources { get; set; } = [];

    /// <summary>A scheduled backup of a PostgreSQL database (a Compose service under a profile, a Kubernetes CronJob), or none.</summary>
    public BackupProfile? Backup { get; set; }

    /// <summary>The profile for <paramref name="resource"/> (an empty one when the profile does not name it).</summary>
    public ResourceProfile For(string resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        return Resources.GetValueOrDefault(resource) ?? new ResourceProfile();
    }

    /// <summary>An empty profile named <paramref name="name"/>.</summary>
    public static DeploymentProfile Empty(string name = "app")
    {
        ArgumentNullException.ThrowIfNull(name);
        return new() { Name = name };
    }

    /// <summary>Reads a profile file.</summary>
    /// <exception cref="PublishingException">The file is missing or not a valid profile.</exception>
    public static DeploymentProfile Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new PublishingException($"Deployment profile not found: {path}.");
        }
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses profile YAML; <paramref name="source"/> names it in messages.</summary>
    public static DeploymentProfile Parse(string yaml, string source)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(source);
        var deserializer = new DeserializerBuilder()
            .WithNamingConvention(CamelCaseNamingConvention.Instance)
            .Build();
        try
        {
            return deserializer.Deserialize<DeploymentProfile?>(yaml) ?? new DeploymentProfile();
        }
        catch (YamlException e)
        {
            var inner = e.InnerException?.Message ?? e.Message;
            throw new PublishingException($"{source}:{e.Start.Line}:{e.Start.Column}: invalid deployment profile: {inner}");
        }
    }
}

/// <summary>Network names.</summary>
public sealed class NetworkNames
{
    /// <summary>The internal network (no route out): data stores, jobs, and the services that use them.</summary>
    public string? Internal { get; set; }

    /// <summary>The network of the services with external bindings.</summary>
    public string? External { get; set; }
}

/// <summary>A parameter's default.</summary>
public sealed class ParameterProfile
{
    /// <summary>The value used when the deployment supplies none.</summary>
    public string? Default { get; set; }
}

/// <summary>Deployment settings of one workload.</summary>
public sealed class ResourceProfile
{
    /// <summary><c>service</c> (runs until stopped; the default) or <c>job</c> (runs to completion, like a migration worker).</summary>
    public string? Role { get; set; }

    /// <summary>The non-root user and group, <c>uid:gid</c>.</summary>
    public string? User { get; set; }

    /// <summary>The image's own command (entrypoint and arguments), when it cannot be read from its Dockerfile.</summary>
    public List<string>? Command { get; set; }

    /// <summary>Paths that must be writable (tmpfs in Compose, emptyDir in Kubernetes); <c>/tmp</c> always is.</summary>
    public List<string>? WritablePaths { get; set; }

    /// <summary>The size of each writable path's tmpfs / emptyDir, in Compose units (<c>64M</c>; default 64M).</summary>
    public string? TmpfsSize { get; set; }

    /// <summary>CPU and memory limits and reservations.</summary>
    public ResourcesProfile? Resources { get; set; }

    /// <summary>How to tell the workload is healthy.</summary>
    public HealthProfile? Health { get; set; }

    /// <summary>Extra start-order dependencies: resource name to <c>healthy</c>, <c>started</c> or <c>completed</c>.</summary>
    public Dictionary<string, string>? DependsOn { get; set; }

    /// <summary>Environment overrides; values may use <c>${SETTING}</c> from <see cref="DeploymentProfile.Settings"/>.</summary>
    public Dictionary<string, string>? Environment { get; set; }

    /// <summary>Environment variables the image reads from a file itself when given as <c>NAME_FILE</c>.</summary>
    public List<string>? FileEnvironment { get; set; }

    /// <summary>Kubernetes replicas (services only).</summary>
    public int? Replicas { get; set; }

    /// <summary>A Kubernetes HorizontalPodAutoscaler.</summary>
    public AutoscaleProfile? Autoscale { get; set; }

    /// <summary>Whether the workload calls out to the internet (AI providers): allowed egress beyond the cluster.</summary>
    public bool? InternetEgress { get; set; }

    /// <summary>
    /// How the external bindings are reached: <c>direct</c> (the default: Compose publishes them on the shared
    /// <c>&lt;NAME&gt;_BIND_ADDRESS</c> setting, Kubernetes admits any source on them) or <c>proxied</c> (only through a
    /// reverse proxy or Ingress: Compose publishes them on a setting of the workload's own,
    /// <c>&lt;RESOURCE&gt;_BIND_ADDRESS</c>, loopback unless set, which the shared one does not open; Kubernetes admits its
    /// callers and <see cref="KubernetesProfile.IngressNamespaces"/> only).
    /// </summary>
    public string? Exposure { get; set; }

    /// <summary>The size of each persistent volume claim (Kubernetes).</summary>
    public string? Storage { get; set; }

    /// <summary>The Compose restart policy.</summary>
    public string? Restart { get; set; }

    /// <summary>Kubernetes-only settings.</summary>
    public KubernetesProfile? Kubernetes { get; set; }
}

/// <summary>
/// The backup job: <c>pg_dump</c> of one database into gzip'd files, keeping the newest N, run by the database server's
/// own image. Everything else (server, user, password, database name) comes from the database resource's connection string,
/// unless <see cref="User"/> and <see cref="PasswordParameter"/> name the role to act as.
/// </summary>
public sealed class BackupProfile
{
    /// <summary>The manifest resource of the database to back up (Aspire's <c>AddDatabase</c>, such as <c>cartrita</c>).</summary>
    public string? Database { get; set; }

    /// <summary>The role to dump and restore as, instead of the connection string's user (the server's superuser).</summary>
    public string? User { get; set; }

    /// <summary>The secret parameter holding <see cref="User"/>'s password (required with it).</summary>
    public string? PasswordParameter { get; set; }

    /// <summary>The Compose service and profile, and the Kubernetes CronJob (default <c>backup</c>).</summary>
    public string? Name { get; set; }

    /// <summary>How many backups to keep (default 7); Compose reads <c>BACKUP_KEEP</c> from <c>.env</c> over it.</summary>
    public int? Keep { get; set; }

    /// <summary>The Kubernetes CronJob schedule (default <c>0 3 * * *</c>, in the cluster's time zone).</summary>
    public string? Schedule { get; set; }

    /// <summary>The named volume (Compose) and PersistentVolumeClaim (Kubernetes) the backups go to (default <c>&lt;name&gt;-backups</c>).</summary>
    public string? Volume { get; set; }

    /// <summary>The size of the claim (default: the database server's own storage).</summary>
    public string? Storage { get; set; }

    /// <summary>CPU and memory limits and reservations (default: the profile's defaults).</summary>
    public ResourcesProfile? Resources { get; set; }
}

/// <summary>Limits and reservations.</summary>
public sealed class ResourcesProfile
{
    /// <summary>The most the workload may use.</summary>
    public ResourceAmount? Limits { get; set; }

    /// <summary>What the workload is guaranteed (Kubernetes requests).</summary>
    public ResourceAmount? Reservations { get; set; }
}

/// <summary>An amount of CPU and memory.</summary>
public sealed class ResourceAmount
{
    /// <summary>Memory in Compose units (<c>512M</c>, <c>2G</c>).</summary>
    public string? Memory { get; set; }

    /// <summary>CPUs (<c>0.5</c>).</summary>
    public string? Cpus { get; set; }
}

/// <summary>A health check.</summary>
public sealed class HealthProfile
{
    /// <summary>An HTTP path that answers 200 when healthy (Kubernetes probes).</summary>
    public string? HttpPath { get; set; }

    /// <summary>A command (exec form) that exits 0 when healthy (Compose healthcheck, Kubernetes exec probe).</summary>
    public List<string>? Command { get; set; }

    /// <summary>Seconds between checks.</summary>
    public int? IntervalSeconds { get; set; }

    /// <summary>Seconds before a check times out.</summary>
    public int? TimeoutSeconds { get; set; }

    /// <summary>Failures before unhealthy.</summary>
    public int? Retries { get; set; }

    /// <summary>Seconds of grace after start.</summary>
    public int? StartPeriodSeconds { get; set; }
}

/// <summary>Horizontal autoscaling.</summary>
public sealed class AutoscaleProfile
{
    /// <summary>The fewest replicas.</summary>
    public int MinReplicas { get; set; } = 2;

    /// <summary>The most replicas.</summary>
    public int MaxReplicas { get; set; } = 5;

    /// <summary>Average CPU utilization (percent of requests) to aim for.</summary>
    public int CpuUtilization { get; set; } = 70;
}

/// <summary>Kubernetes-only settings.</summary>
public sealed class KubernetesProfile
{
    /// <summary>Extra environment variables (for example PGDATA below a volume's root).</summary>
    public Dictionary<string, string>? Environment { get; set; }

    /// <summary>
    /// For a <c>proxied</c> workload: namespaces (by name) whose pods may reach its external ports, such as the ingress
    /// controller's (<c>ingress-nginx</c>).
    /// </summary>
    public List<string>? IngressNamespaces { get; set; }
}
