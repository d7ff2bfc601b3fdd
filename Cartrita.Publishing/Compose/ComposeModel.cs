using YamlDotNet.Serialization;

namespace Cartrita.Publishing.Compose;

// The subset of the Compose specification (https://compose-spec.io) the publisher writes, as plain objects that
// YamlDotNet serializes with snake_case names. Properties are declared in the order they appear in the file.

/// <summary>A Compose file. No top-level <c>name</c>: docker-compose 1.29 rejects it.</summary>
public sealed class ComposeFile
{
    /// <summary>The services, by name.</summary>
    public Dictionary<string, ComposeService> Services { get; set; } = [];

    /// <summary>Networks.</summary>
    public Dictionary<string, ComposeNetwork>? Networks { get; set; }

    /// <summary>Named volumes.</summary>
    public Dictionary<string, ComposeVolume>? Volumes { get; set; }

    /// <summary>Docker secrets, from files.</summary>
    public Dictionary<string, ComposeSecret>? Secrets { get; set; }
}

/// <summary>A service.</summary>
public sealed class ComposeService
{
    /// <summary>The image (built by <see cref="Build"/> when that is set).</summary>
    public string? Image { get; set; }

    /// <summary>How to build the image.</summary>
    public ComposeBuild? Build { get; set; }

    /// <summary>The Compose profiles the service belongs to: it starts only when one is enabled (<c>--profile</c>) or it is named.</summary>
    public List<string>? Profiles { get; set; }

    /// <summary>The non-root <c>uid:gid</c>.</summary>
    public string? User { get; set; }

    /// <summary>Read-only root filesystem.</summary>
    public bool? ReadOnly { get; set; }

    /// <summary>Security options (<c>no-new-privileges:true</c>).</summary>
    public List<string>? SecurityOpt { get; set; }

    /// <summary>Capabilities dropped.</summary>
    public List<string>? CapDrop { get; set; }

    /// <summary>Capabilities added back.</summary>
    public List<string>? CapAdd { get; set; }

    /// <summary>Writable in-memory mounts.</summary>
    public List<string>? Tmpfs { get; set; }

    /// <summary>Entrypoint override.</summary>
    public List<string>? Entrypoint { get; set; }

    /// <summary>Command override.</summary>
    public List<string>? Command { get; set; }

    /// <summary>Environment (no secret values: those are in <see cref="Secrets"/>).</summary>
    public Dictionary<string, string>? Environment { get; set; }

    /// <summary>Secrets mounted under /run/secrets.</summary>
    public List<string>? Secrets { get; set; }

    /// <summary>Published ports.</summary>
    public List<string>? Ports { get; set; }

    /// <summary>Volume mounts.</summary>
    public List<string>? Volumes { get; set; }

    /// <summary>Networks the service joins.</summary>
    public List<string>? Networks { get; set; }

    /// <summary>Start-order dependencies.</summary>
    public Dictionary<string, ComposeDependency>? DependsOn { get; set; }

    /// <summary>The health check.</summary>
    public ComposeHealthcheck? Healthcheck { get; set; }

    /// <summary>Limits and reservations.</summary>
    public ComposeDeploy? Deploy { get; set; }

    /// <summary>The restart policy.</summary>
    public string? Restart { get; set; }

    /// <summary>The signal for a clean, fast stop, when it is not SIGTERM.</summary>
    public string? StopSignal { get; set; }

    /// <summary>How long to wait for a clean stop.</summary>
    public string? StopGracePeriod { get; set; }

    /// <summary>Log rotation.</summary>
    public ComposeLogging? Logging { get; set; }
}

/// <summary>An image build.</summary>
public sealed class ComposeBuild
{
    /// <summary>The context, relative to the Compose file.</summary>
    public string Context { get; set; } = ".";

    /// <summary>The Dockerfile, relative to the context.</summary>
    public string? Dockerfile { get; set; }

    /// <summary>Build arguments.</summary>
    public Dictionary<string, string>? Args { get; set; }
}

/// <summary>A dependency condition.</summary>
public sealed class ComposeDependency
{
    /// <summary><c>service_started</c>, <c>service_healthy</c> or <c>service_completed_successfully</c>.</summary>
    public string Condition { get; set; } = "service_started";
}

/// <summary>A health check.</summary>
public sealed class ComposeHealthcheck
{
    /// <summary>The test (<c>CMD …</c> or <c>CMD-SHELL …</c>).</summary>
    public List<string>? Test { get; set; }

    /// <summary>Time between checks.</summary>
    public string? Interval { get; set; }

    /// <summary>Time before a check fails.</summary>
    public string? Timeout { get; set; }

    /// <summary>Failures before unhealthy.</summary>
    public int? Retries { get; set; }

    /// <summary>Grace period after start.</summary>
    public string? StartPeriod { get; set; }

    /// <summary>No health check (a run-to-completion job: its exit status is what counts).</summary>
    public bool? Disable { get; set; }
}

/// <summary>The <c>deploy</c> section.</summary>
public sealed class ComposeDeploy
{
    /// <summary>Resources.</summary>
    public ComposeResources? Resources { get; set; }
}

/// <summary>Limits and reservations.</summary>
public sealed class ComposeResources
{
    /// <summary>The most the service may use.</summary>
    public ComposeResourceAmount? Limits { get; set; }

    /// <summary>What the service is guaranteed.</summary>
    public ComposeResourceAmount? Reservations { get; set; }
}

/// <summary>CPU and memory.</summary>
public sealed class ComposeResourceAmount
{
    /// <summary>CPUs, as a string (<c>'0.5'</c>).</summary>
    public string? Cpus { get; set; }

    /// <summary>Memory (<c>512M</c>).</summary>
    public string? Memory { get; set; }
}

/// <summary>Logging.</summary>
public sealed class ComposeLogging
{
    /// <summary>The driver.</summary>
    public string Driver { get; set; } = "json-file";

    /// <summary>Driver options.</summary>
    public Dictionary<string, string>? Options { get; set; }
}

/// <summary>A network.</summary>
public sealed class ComposeNetwork
{
    /// <summary>No route out of the network.</summary>
    public bool? Internal { get; set; }
}

/// <summary>A named volume (defaults: local driver).</summary>
public sealed class ComposeVolume
{
    /// <summary>The driver, when not the default.</summary>
    public string? Driver { get; set; }
}

/// <summary>A secret read from a file.</summary>
public sealed class ComposeSecret
{
    /// <summary>The file, relative to the Compose file.</summary>
    [YamlMember(Alias = "file")]
    public string File { get; set; } = "";
}
