using Cartrita.Publishing.Compose;
using YamlDotNet.RepresentationModel;

namespace Cartrita.Publishing.Tests;

/// <summary>deploy/compose: hardened services, the two networks, Docker secrets, valid for docker-compose and compose-spec.</summary>
[Collection(PublishedCartritaCollection.Name)]
public sealed class ComposeTests(PublishedCartrita published)
{
    private static readonly string[] Services = ["postgres", "redis", "migrations", "ai-orchestrator", "frontend"];

    /// <summary>The manifest's secret parameters: the only secret files.</summary>
    internal static readonly string[] Parameters =
        ["postgres-password", "postgres-owner-password", "postgres-app-password", "redis-password", "jwt-secret", "cartrita-api-key",
         "openai-api-key", "anthropic-api-key", "deepgram-api-key", "admin-password", "metrics-token", "proxy-token"];

    private YamlMappingNode Service(string name) => published.ProductionCompose.Map("services").Map(name);

    [Fact]
    public void Every_manifest_workload_is_a_service()
    {
        // …and the backup job the profile asks for (BackupTests), last.
        Assert.Equal([.. Services, "backup"], published.ProductionCompose.Map("services").Keys());
        Assert.False(published.ProductionCompose.Has("name"), "docker-compose 1.29 rejects a top-level name");
        Assert.False(published.ProductionCompose.Has("version"));
    }

    [Theory]
    [InlineData("postgres", "999:999")]
    [InlineData("redis", "999:999")]
    [InlineData("migrations", "1654:1654")]
    [InlineData("ai-orchestrator", "10001:10001")]
    [InlineData("frontend", "10001:10001")]
    [InlineData("backup", "999:999")]
    public void Every_service_is_hardened(string name, string user)
    {
        var service = Service(name);

        Assert.Equal(user, service.Scalar("user"));
        Assert.DoesNotMatch("^0(:|$)", service.Scalar("user"));
        Assert.Equal("true", service.Scalar("read_only"));
        Assert.Equal(["no-new-privileges:true"], service.Strings("security_opt"));
        Assert.Equal(["ALL"], service.Strings("cap_drop"));
        Assert.False(service.Has("cap_add"));
        Assert.False(service.Has("privileged"));
        Assert.Contains(service.Strings("tmpfs"), t => t.StartsWith("/tmp:size=", StringComparison.Ordinal) && t.EndsWith(",mode=1777", StringComparison.Ordinal));

        var resources = service.Map("deploy").Map("resources");
        Assert.False(string.IsNullOrEmpty(resources.Map("limits").Scalar("memory")), $"{name}: limits.memory");
        Assert.False(string.IsNullOrEmpty(resources.Map("limits").Scalar("cpus")), $"{name}: limits.cpus");
        Assert.False(string.IsNullOrEmpty(resources.Map("reservations").Scalar("memory")), $"{name}: reservations.memory");
        // docker-compose 1.29 ignores a CPU reservation with a warning on every command (Docker has none).
        Assert.False(resources.Map("reservations").Has("cpus"), $"{name}: reservations.cpus");

        Assert.True(service.Has("healthcheck"), $"{name} has no healthcheck");
        Assert.True(service.Has("restart"), $"{name} has no restart policy");
        Assert.Equal(["max-size", "max-file"], service.Map("logging").Map("options").Keys());
    }

    [Fact]
    public void Postgres_writes_its_socket_to_a_volume_of_its_own_and_its_data_to_a_named_volume()
    {
        var postgres = Service("postgres");

        // Sized, with the mode the official image gives /tmp.
        Assert.Equal(["/tmp:size=64m,mode=1777"], postgres.Strings("tmpfs"));
        // The manifest's database resource: created by the image on an empty volume (the worker creates it otherwise).
        Assert.Equal("cartrita", postgres.Map("environment").Scalar("POSTGRES_DB"));
        // Fast shutdown (the image's STOPSIGNAL): SIGTERM would wait for every client to disconnect.
        Assert.Equal("SIGINT", postgres.Scalar("stop_signal"));
        // The socket directory at its real path (/var/run is a link to /run in the image) on a volume, which Docker and
        // Podman fill from the image (postgres-owned, 3777): a tmpfs there is root's 1755 under Podman whatever its mode=.
        Assert.Equal(["cartrita-postgres-data:/var/lib/postgresql/data", "postgres-run:/run/postgresql"], postgres.Strings("volumes"));
        Assert.True(published.ProductionCompose.Map("volumes").Has("cartrita-postgres-data"));
        Assert.True(published.ProductionCompose.Map("volumes").Has("postgres-run"));
        Assert.Equal("/run/secrets/postgres-password", postgres.Map("environment").Scalar("POSTGRES_PASSWORD_FILE"));
        Assert.False(postgres.Map("environment").Has("POSTGRES_PASSWORD"));
        Assert.Equal(["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], postgres.Map("healthcheck").Strings("test"));
    }

    [Fact]
    public void Limits_are_the_seeds()
    {
        var backend = Service("ai-orchestrator").Map("deploy").Map("resources");
        Assert.Equal(("2G", "1.0"), (backend.Map("limits").Scalar("memory"), backend.Map("limits").Scalar("cpus")));
        Assert.Equal("1G", backend.Map("reservations").Scalar("memory"));

        var frontend = Service("frontend").Map("deploy").Map("resources");
        Assert.Equal(("512M", "0.5"), (frontend.Map("limits").Scalar("memory"), frontend.Map("limits").Scalar("cpus")));
    }

    [Fact]
    public void Start_order_waits_for_health_and_for_the_migrations_to_finish()
    {
        Assert.Equal("service_healthy", Service("migrations").Map("depends_on").Map("postgres").Scalar("condition"));

        var orchestrator = Service("ai-orchestrator").Map("depends_on");
        Assert.Equal("service_completed_successfully", orchestrator.Map("migrations").Scalar("condition"));
        Assert.Equal("service_healthy", orchestrator.Map("postgres").Scalar("condition"));
        Assert.Equal("service_healthy", orchestrator.Map("redis").Scalar("condition"));

        Assert.Equal("service_healthy", Service("frontend").Map("depends_on").Map("ai-orchestrator").Scalar("condition"));
    }

    [Fact]
    public void The_migration_job_runs_once_and_its_exit_status_is_what_counts()
    {
        var migrations = Service("migrations");

        Assert.Equal("no", migrations.Scalar("restart"));
        // Quoted: YAML 1.1 (docker-compose 1.29) would read a bare `no` as false.
        Assert.NotEqual(YamlDotNet.Core.ScalarStyle.Plain, migrations.Style("restart"));
        Assert.Equal("true", migrations.Map("healthcheck").Scalar("disable"));
        Assert.Equal("unless-stopped", Service("postgres").Scalar("restart"));
    }

    [Fact]
    public void Networks_separate_the_data_stores_from_the_outside()
    {
        var networks = published.ProductionCompose.Map("networks");
        Assert.Equal("true", networks.Map("cartrita-internal").Scalar("internal"));
        Assert.False(networks.Map("cartrita-external").Has("internal"));

        Assert.Equal(["cartrita-internal"], Service("postgres").Strings("networks"));
        Assert.Equal(["cartrita-internal"], Service("redis").Strings("networks"));
        Assert.Equal(["cartrita-internal"], Service("migrations").Strings("networks"));
        Assert.Equal(["cartrita-internal", "cartrita-external"], Service("ai-orchestrator").Strings("networks"));
        Assert.Equal(["cartrita-external"], Service("frontend").Strings("networks"));
    }

    [Fact]
    public void Only_the_frontend_and_the_orchestrator_publish_ports()
    {
        // On loopback unless the deployment sets CARTRITA_BIND_ADDRESS (documented in .env.example and deploy/README.md).
        // The orchestrator (proxied) has its own setting: opening the frontend with CARTRITA_BIND_ADDRESS=0.0.0.0 must not
        // open the API on every interface too (issue 17).
        Assert.Equal(["${AI_ORCHESTRATOR_BIND_ADDRESS:-127.0.0.1}:${AI_ORCHESTRATOR_PORT:-8000}:8000"], Service("ai-orchestrator").Strings("ports"));
        Assert.Equal(["${CARTRITA_BIND_ADDRESS:-127.0.0.1}:${FRONTEND_PORT:-3000}:3000"], Service("frontend").Strings("ports"));
        Assert.Contains("AI_ORCHESTRATOR_BIND_ADDRESS=", published.Compose.Files[ComposePublisher.EnvExampleFile].Split('\n'));
        // Every published port of every file has a host address, and its default is loopback.
        foreach (var file in new[] { published.ProductionCompose, published.DevelopmentCompose })
        {
            foreach (var service in file.Map("services").Keys().Where(s => file.Map("services").Map(s).Has("ports")))
            {
                Assert.All(file.Map("services").Map(service).Strings("ports"),
                    port => Assert.Matches(@"^(127\.0\.0\.1|\$\{[A-Z_]+_BIND_ADDRESS:-127\.0\.0\.1\}):", port));
            }
        }
        foreach (var name in new[] { "postgres", "redis", "migrations", "backup" })
        {
            Assert.False(Service(name).Has("ports"), $"{name} publishes a port");
        }
    }

    [Fact]
    public void Services_reach_each_other_by_name_and_the_browser_reaches_the_public_address()
    {
        var frontend = Service("frontend").Map("environment");
        Assert.Equal("http://ai-orchestrator:8000", frontend.Scalar("ORCHESTRATOR_URL"));
        Assert.Equal("${CARTRITA_PUBLIC_API_URL:-http://localhost:8000}", frontend.Scalar("NEXT_PUBLIC_API_URL"));
        Assert.Equal("${CARTRITA_PUBLIC_WS_URL:-ws://localhost:8000}", frontend.Scalar("NEXT_PUBLIC_WS_URL"));
        Assert.False(frontend.Has("HOSTNAME"));

        var orchestrator = Service("ai-orchestrator").Map("environment");
        Assert.Equal("production", orchestrator.Scalar("CARTRITA_ENV"));
        Assert.Equal("8000", orchestrator.Scalar("PORT"));
        // The browser's origin is the frontend's public address, not its in-network one; forwarded headers only from a
        // configured proxy.
        Assert.Equal("${CARTRITA_PUBLIC_URL:-http://localhost:3000}", orchestrator.Scalar("CORS_ALLOW_ORIGINS"));
        Assert.Equal("${CARTRITA_TRUSTED_PROXIES:-}", orchestrator.Scalar("TRUSTED_PROXIES"));
        Assert.Equal("admin", orchestrator.Scalar("CARTRITA_ADMIN_USER"));
    }

    /// <summary>
    /// Issue 17, database roles: the superuser's password reaches the migration worker only; the orchestrator connects as
    /// cartrita_app, the backup job as cartrita_owner.
    /// </summary>
    [Fact]
    public void Only_the_migrations_get_the_superuser_password_and_the_orchestrator_is_the_app_role()
    {
        var services = published.ProductionCompose.Map("services");
        foreach (var name in services.Keys())
        {
            var service = services.Map(name);
            var secrets = service.Has("secrets") ? service.Strings("secrets") : [];
            var getsSuperuser = secrets.Contains("postgres-password");
            Assert.True(getsSuperuser == (name is "migrations" or "postgres"), $"{name} {(getsSuperuser ? "gets" : "does not get")} postgres-password");
        }
        Assert.Equal(["postgres-app-password"], Service("ai-orchestrator").Strings("secrets").Where(s => s.StartsWith("postgres", StringComparison.Ordinal)));
        var shim = Service("ai-orchestrator").Strings("entrypoint")[2];
        Assert.Contains("\"DATABASE_URL=postgresql://cartrita_app:$$(u \"$$p", shim);
        Assert.DoesNotContain("robbie", shim);
        Assert.DoesNotContain("ConnectionStrings__cartrita", shim);

        var migrations = Service("migrations").Strings("entrypoint")[2];
        Assert.Contains("\"ConnectionStrings__cartrita=Host=postgres;Port=5432;Username=cartrita_owner;Password=$$p", migrations);
        Assert.Contains("\"ConnectionStrings__postgres-admin=Host=postgres;Port=5432;Username=robbie;Password=$$p", migrations);
        Assert.Equal(["postgres-app-password", "postgres-owner-password", "postgres-password"], Service("migrations").Strings("secrets"));
        // Only the one name sh cannot export (a hyphen) goes through env's arguments; the rest is exported.
        Assert.Matches("; export \"ConnectionStrings__cartrita=[^;]*;[^;]*;[^;]*;[^;]*;[^;]*\" \"CARTRITA_DB_OWNER_PASSWORD=\\$\\$p\\d\" \"CARTRITA_DB_APP_PASSWORD=\\$\\$p\\d\"; exec env \"ConnectionStrings__postgres-admin=", migrations);
    }

    [Fact]
    public void Secrets_are_Docker_secrets_from_files_never_environment_values()
    {
        var declared = published.ProductionCompose.Map("secrets");
        foreach (var name in declared.Keys())
        {
            Assert.Equal($"./secrets/{name}", declared.Map(name).Scalar("file"));
        }

        var text = published.Compose.Files[ComposePublisher.ProductionFile];
        foreach (var secret in published.SecretValues)
        {
            Assert.DoesNotContain(secret, text);
        }

        // The services that cannot read NAME_FILE get their secrets from a shim that reads the files, then execs the
        // image's own command (from its Dockerfile).
        var orchestrator = Service("ai-orchestrator");
        var shim = orchestrator.Strings("entrypoint");
        Assert.Equal(["/bin/sh", "-c"], shim.Take(2));
        foreach (var variable in new[] { "DATABASE_URL", "REDIS_URL", "JWT_SECRET_KEY", "CARTRITA_API_KEY", "OPENAI_API_KEY" })
        {
            Assert.Contains($"\"{variable}=", shim[2]);
            Assert.False(orchestrator.Map("environment").Has(variable), $"{variable} is in the environment");
        }
        // Exported, then exec'd: no value is ever in a process's arguments (`exec env NAME=value` would put them there).
        Assert.Contains("; export \"", shim[2]);
        Assert.EndsWith("; exec \"$$@\"", shim[2]); // $$: Compose interpolation
        Assert.DoesNotContain("exec env", shim[2]);
        Assert.Equal(["python3", "-m", "uvicorn", "cartrita.orchestrator.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-server-header",
                "--no-proxy-headers", "--ws", "wsproto", "--ws-per-message-deflate", "false"],
            orchestrator.Strings("command"));
        Assert.Contains("jwt-secret", orchestrator.Strings("secrets"));
        // The frontend's one secret vouches for the client addresses it forwards (no API key: it forwards users' sessions).
        Assert.Equal(["proxy-token"], Service("frontend").Strings("secrets"));
        Assert.Equal(["node", "server.js"], Service("frontend").Strings("command"));
        Assert.Equal(["dotnet", "Cartrita.MigrationService.dll"], Service("migrations").Strings("command"));
    }

    [Fact]
    public void Secret_files_hold_the_values_the_services_need()
    {
        var secrets = published.Compose.SecretFiles;
        // Exactly the secret parameters: URLs and connection strings are built from them in the container.
        Assert.Equal(Parameters.Select(p => $"secrets/{p}").Order(StringComparer.Ordinal), secrets.Keys);
        Assert.Equal(Parameters.Order(StringComparer.Ordinal), published.ProductionCompose.Map("secrets").Keys());
        var password = secrets["secrets/postgres-password"];
        Assert.True(password.Length >= 32);
        Assert.True(secrets["secrets/jwt-secret"].Length >= 32);
        Assert.Equal("", secrets["secrets/openai-api-key"]); // optional: empty until set

        if (!OperatingSystem.IsWindows())
        {
            var folder = Path.Combine(published.Compose.Directory, "secrets");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(folder));
        }
    }

    [Fact]
    public void Compose_interpolation_is_escaped()
    {
        // `$REDIS_PASSWORD` in the manifest is for the container's shell, not for docker compose; and `exec`, so that
        // redis-server (not sh, which ignores SIGTERM as PID 1) gets the stop signal and saves.
        Assert.Equal(["/bin/sh", "-c", "exec redis-server --requirepass $$REDIS_PASSWORD --save 60 1"], Service("redis").Strings("command"));
    }

    [Fact]
    public void The_development_file_starts_only_the_data_stores_on_loopback()
    {
        var services = published.DevelopmentCompose.Map("services");
        Assert.Equal(["postgres", "redis"], services.Keys());
        Assert.Equal(["127.0.0.1:${POSTGRES_PORT:-5432}:5432"], services.Map("postgres").Strings("ports"));
        Assert.Equal(["127.0.0.1:${REDIS_PORT:-6379}:6379"], services.Map("redis").Strings("ports"));
        Assert.Equal("true", services.Map("postgres").Scalar("read_only"));
        Assert.False(published.DevelopmentCompose.Has("networks"));
    }

    [Fact]
    public void The_env_example_has_names_only()
    {
        var lines = published.Compose.Files[ComposePublisher.EnvExampleFile].Split('\n')
            .Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();

        Assert.All(lines, line => Assert.Matches("^[A-Z0-9_]+=$", line));
        Assert.Contains("POSTGRES_PASSWORD=", lines);
        Assert.Contains("JWT_SECRET=", lines);
        Assert.Contains("FRONTEND_PORT=", lines);
        Assert.Contains("CARTRITA_PUBLIC_API_URL=", lines);
    }

    [Theory]
    [InlineData("docker-compose.prod.yml")]
    [InlineData("docker-compose.yml")]
    public void Docker_compose_accepts_the_files(string file)
    {
        var result = Repo.ComposeConfig(Path.Combine(published.Compose.Directory, file));

        Assert.True(result.ExitCode == 0, result.Output);
    }

    [Fact]
    public void The_files_match_the_compose_spec_schema()
    {
        var result = Repo.ValidateComposeSchema(
            Path.Combine(published.Compose.Directory, "docker-compose.prod.yml"),
            Path.Combine(published.Compose.Directory, "docker-compose.yml"));

        Assert.True(result.ExitCode == 0, result.Output);
    }

    [Fact]
    public void Committed_compose_files_are_what_publishing_makes_now()
    {
        var publisher = new Publisher(Repo.Path("aspire-manifest.json"), Repo.Path(PublishedCartrita.Profile),
            new Dictionary<string, string>(), useDeploymentInputs: false);
        var output = publisher.Compose(Repo.Path("deploy", "compose"));

        foreach (var (file, content) in output.Files)
        {
            var path = Repo.Path("deploy", "compose", file);
            Assert.True(File.Exists(path), $"deploy/compose/{file} is missing: run `./cartrita publish compose`.");
            Assert.True(content == File.ReadAllText(path).Replace("\r\n", "\n"),
                $"deploy/compose/{file} is stale: run `./cartrita publish compose` and commit the result.");
        }
    }
}
