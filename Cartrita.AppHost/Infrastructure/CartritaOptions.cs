namespace Cartrita.AppHost.Infrastructure;

/// <summary>The AppHost's own settings, the <c>Cartrita</c> configuration section (appsettings.json, environment, command line).</summary>
public sealed class CartritaOptions
{
    public const string SectionName = "Cartrita";

    /// <summary><c>auto</c> (containers only when a runtime answers), <c>containers</c> or <c>processes</c>.</summary>
    public InfrastructureMode Infrastructure { get; set; } = InfrastructureMode.Auto;

    /// <summary>Where local PostgreSQL and Redis keep their data; relative paths are from the repository root.</summary>
    public string DataDirectory { get; set; } = ".cartrita";

    public PortOptions Ports { get; set; } = new();

    public FrontendOptions Frontend { get; set; } = new();

    public OrchestratorOptions Orchestrator { get; set; } = new();

    public ToolOptions Tools { get; set; } = new();

    public ContainerOptions Containers { get; set; } = new();

    /// <summary>How long the stack may take to start, and what happens when it cannot.</summary>
    public StartupOptions Startup { get; set; } = new();

    /// <summary>docker or podman once containers mode is settled (not configuration).</summary>
    internal string? ContainerRuntime { get; set; }

    /// <summary>pg_dump backups: folder (relative to the repository root) and how many to keep.</summary>
    public Cartrita.Operations.Backups.BackupOptions Backups { get; set; } = new();

    /// <summary>Passed to the orchestrator as TESTING (test suites set it).</summary>
    public bool Testing { get; set; }

    /// <summary>
    /// Host ports. Their values live in one place, <c>Cartrita:Ports</c> in appsettings.json (where <c>./cartrita doctor</c>
    /// reads them too; the dashboard's are in the http launch profile); 0, or unset, lets DCP pick a free one (the tests do this).
    /// </summary>
    public sealed class PortOptions
    {
        public int Postgres { get; set; }
        public int Redis { get; set; }
        public int Orchestrator { get; set; }
        public int Frontend { get; set; }
    }

    public sealed class FrontendOptions
    {
        /// <summary><c>Production</c> (build when changed, then next start) or <c>Development</c> (next dev).</summary>
        public NextJsMode Mode { get; set; } = NextJsMode.Production;
    }

    public sealed class OrchestratorOptions
    {
        /// <summary>Restart uvicorn on code changes (run mode).</summary>
        public bool Reload { get; set; } = true;

        /// <summary>
        /// Requests per client per minute, passed as RATE_LIMIT_REQUESTS (0 turns the limiter off); unset keeps the
        /// orchestrator's own default (120). Load tests raise it.
        /// </summary>
        public int? RateLimitRequests { get; set; }
    }

    /// <summary>How long the AppHost waits for its stack, and what it does when the stack cannot start.</summary>
    public sealed class StartupOptions
    {
        /// <summary>A resource that has started but is not ready (healthy, or finished) after this many seconds has failed.</summary>
        public int TimeoutSeconds { get; set; } = 180;

        /// <summary>
        /// After a resource fails while the stack starts: <see langword="false"/> stops the AppHost (exit code 1),
        /// <see langword="true"/> keeps it and its dashboard running to look at the failure there. Unset: keep it open
        /// when an IDE or the Aspire CLI runs the AppHost (they show the dashboard), stop otherwise.
        /// </summary>
        public bool? KeepOpenOnFailure { get; set; }
    }

    /// <summary>Containers mode (run mode only; published files keep their own fixed volume names).</summary>
    public sealed class ContainerOptions
    {
        /// <summary>
        /// Data volumes are named <c>{prefix}-postgres-data</c> and <c>{prefix}-redis-data</c>. Unset: named per checkout
        /// as Aspire's WithDataVolume() does (application name and a hash of the AppHost's path), so two checkouts, or a
        /// test run beside `./cartrita up`, never share a database initialized with another password.
        /// </summary>
        public string? VolumePrefix { get; set; }

        /// <summary>
        /// The registry the PostgreSQL and Redis images come from (a mirror, for example <c>registry.example.com</c>);
        /// unset: the images' own (Docker Hub), or what the engine already holds.
        /// </summary>
        public string? Registry { get; set; }
    }

    /// <summary>Where the local servers' programs are; override for a non-Debian layout.</summary>
    public sealed class ToolOptions
    {
        public string PostgresBinDirectory { get; set; } = "/usr/lib/postgresql/15/bin";
        public string RedisServer { get; set; } = "/usr/bin/redis-server";
        /// <summary>
        /// The interpreter that runs the orchestrator (the preflight checks its packages); unset: the orchestrator's
        /// <c>.venv/bin/python</c> when that exists, else Debian's <c>/usr/bin/python3</c>, which carries them.
        /// </summary>
        public string? Python { get; set; }
    }
}

/// <summary>How PostgreSQL and Redis run.</summary>
public enum InfrastructureMode
{
    /// <summary>Containers when a container runtime answers, else local processes.</summary>
    Auto,

    /// <summary>The pinned pgvector and Redis images; requires Docker or Podman.</summary>
    Containers,

    /// <summary>Local PostgreSQL and redis-server processes, data in <see cref="CartritaOptions.DataDirectory"/>.</summary>
    Processes,
}
