namespace Cartrita.Publishing.Deployment;

/// <summary>
/// What the publishers know about common images that Aspire's integrations use, so that they run hardened without a
/// profile: the non-root user the image is built for, its command, the paths it writes outside its volumes, a health
/// command, and which variables its entrypoint reads from <c>NAME_FILE</c> itself.
/// </summary>
public sealed record KnownImage(
    string User,
    IReadOnlyList<string> Entrypoint,
    IReadOnlyList<string> Cmd,
    IReadOnlyList<string> WritablePaths,
    IReadOnlyList<string> HealthCommand,
    IReadOnlyList<string> FileEnvironment,
    IReadOnlyDictionary<string, string> KubernetesEnvironment)
{
    /// <summary>Modes of writable paths that are not the default 1777.</summary>
    public IReadOnlyDictionary<string, string> PathModes { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Writable paths that the image makes for its user, with their real path in the image (Debian's <c>/var/run</c> is
    /// a link to <c>/run</c>). Under Podman a tmpfs there is root's (mode 1755) whatever its <c>mode=</c> says, and a
    /// mount at <c>/var/run/…</c> is resolved through the host's link; a new volume at the real path is filled from the
    /// image, its owner and mode included, on Docker and Podman alike. Kubernetes gives an emptyDir (0777) as for any
    /// writable path.
    /// </summary>
    public IReadOnlyDictionary<string, string> ImageDirectories { get; init; } = new Dictionary<string, string>();

    /// <summary>The image's STOPSIGNAL, when not SIGTERM.</summary>
    public string? StopSignal { get; init; }

    /// <summary>A Kubernetes preStop command that stops the server as <see cref="StopSignal"/> would.</summary>
    public IReadOnlyList<string>? PreStop { get; init; }

    /// <summary>Replaced in <see cref="HealthCommand"/> by the container port of the image's first binding.</summary>
    public const string PortPlaceholder = "{port}";

    private static readonly KnownImage Postgres = new(
        User: "999:999", // the image's postgres user
        Entrypoint: ["docker-entrypoint.sh"],
        Cmd: ["postgres"],
        WritablePaths: ["/tmp", "/var/run/postgresql"],
        HealthCommand: ["pg_isready", "-q", "-h", "127.0.0.1", "-p", PortPlaceholder],
        FileEnvironment: ["POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_INITDB_ARGS"],
        // A volume's root may hold lost+found; initdb wants an empty directory.
        KubernetesEnvironment: new Dictionary<string, string> { ["PGDATA"] = "/var/lib/postgresql/data/pgdata" })
    {
        // As the official image makes the socket directory (setgid, sticky, writable by all): owned by root on a fresh
        // tmpfs (podman), the postgres user must still be able to create its lock file and socket there.
        PathModes = new Dictionary<string, string> { ["/var/run/postgresql"] = "3777" },
        ImageDirectories = new Dictionary<string, string> { ["/var/run/postgresql"] = "/run/postgresql" },
        // The image's STOPSIGNAL: SIGINT is PostgreSQL's fast shutdown (SIGTERM's smart shutdown waits for every client).
        StopSignal = "SIGINT",
        // Kubernetes sends SIGTERM; stop fast first (pg_ctl finds the server through PGDATA).
        PreStop = ["pg_ctl", "stop", "-m", "fast"],
    };

    private static readonly KnownImage Redis = new(
        User: "999:999", // the image's redis user
        Entrypoint: ["docker-entrypoint.sh"],
        Cmd: ["redis-server"],
        WritablePaths: ["/tmp"],
        // redis-cli exits 0 on any reply (PONG, NOAUTH, LOADING) and 1 when nothing answers, with or without the
        // password: so no password (and no shell to read it) is needed to tell the server is up.
        HealthCommand: ["redis-cli", "-p", PortPlaceholder, "ping"],
        FileEnvironment: [],
        KubernetesEnvironment: new Dictionary<string, string>());

    private static readonly KnownImage RabbitMq = new(
        User: "999:999", // the image's rabbitmq user
        Entrypoint: ["docker-entrypoint.sh"],
        Cmd: ["rabbitmq-server"],
        WritablePaths: ["/tmp", "/etc/rabbitmq"],
        HealthCommand: ["rabbitmq-diagnostics", "-q", "ping"],
        FileEnvironment: [],
        KubernetesEnvironment: new Dictionary<string, string>());

    private static readonly Dictionary<string, KnownImage> Repositories = new(StringComparer.Ordinal)
    {
        ["postgres"] = Postgres,
        ["pgvector/pgvector"] = Postgres,
        ["redis"] = Redis,
        ["rabbitmq"] = RabbitMq,
    };

    /// <summary>Whether <paramref name="image"/> is a PostgreSQL server image (with <c>pg_dump</c> and <c>psql</c> of its own version).</summary>
    public static bool IsPostgres(string image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return ReferenceEquals(Find(image), Postgres);
    }

    /// <summary>What is known about <paramref name="image"/> (<c>docker.io/library/redis:7.0.15</c>), or <see langword="null"/>.</summary>
    public static KnownImage? Find(string image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return Repositories.GetValueOrDefault(Repository(image));
    }

    /// <summary>The repository of an image reference, without registry, <c>library/</c>, tag or digest.</summary>
    public static string Repository(string image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var name = image;
        var at = name.IndexOf('@');
        if (at >= 0)
        {
            name = name[..at];
        }
        var lastSlash = name.LastIndexOf('/');
        var colon = name.LastIndexOf(':');
        if (colon > lastSlash)
        {
            name = name[..colon];
        }
        var firstSlash = name.IndexOf('/');
        if (firstSlash > 0 && (name[..firstSlash].Contains('.') || name[..firstSlash].Contains(':') || name[..firstSlash] == "localhost"))
        {
            name = name[(firstSlash + 1)..];
        }
        return name.StartsWith("library/", StringComparison.Ordinal) ? name["library/".Length..] : name;
    }
}
