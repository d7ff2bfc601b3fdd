using System.Text;
using Cartrita.Publishing.Compose;
using Cartrita.Publishing.Deployment;
using Cartrita.Publishing.Manifest;
using k8s;
using k8s.Models;
using YamlDotNet.RepresentationModel;

namespace Cartrita.Publishing.Tests;

/// <summary>
/// The backup job the profile asks for: a Compose service under the profile <c>backup</c> and a Kubernetes CronJob, both
/// running backup.sh in the postgres image, hardened like every workload, with the password from the existing secret.
/// </summary>
[Collection(PublishedCartritaCollection.Name)]
public sealed class BackupTests(PublishedCartrita published)
{
    private YamlMappingNode ComposeService(string name) => published.ProductionCompose.Map("services").Map(name);

    private List<object> Objects => KubernetesYaml.LoadAllFromString(published.KustomizeOutput);

    private V1CronJob CronJob => Objects.OfType<V1CronJob>().Single();

    // ---- Compose ----

    [Fact]
    public void Compose_backup_service_exists_only_under_the_backup_profile()
    {
        var services = published.ProductionCompose.Map("services");
        Assert.Equal(["backup"], ComposeService("backup").Strings("profiles"));
        Assert.All(services.Keys().Where(s => s != "backup"), s => Assert.False(services.Map(s).Has("profiles"), $"{s} has profiles"));
        Assert.False(published.DevelopmentCompose.Map("services").Has("backup"));

        // Run once, by hand or from cron, and exit: never restarted, no health check (its exit status is the result).
        var backup = ComposeService("backup");
        Assert.Equal("no", backup.Scalar("restart"));
        Assert.NotEqual(YamlDotNet.Core.ScalarStyle.Plain, backup.Style("restart"));
        Assert.Equal("true", backup.Map("healthcheck").Scalar("disable"));
        Assert.Equal(["/bin/sh", "/opt/backup/backup.sh"], backup.Strings("entrypoint"));
        Assert.Equal(["backup"], backup.Strings("command")); // `run --rm backup list|restore FILE` replaces only this
    }

    [Fact]
    public void Compose_backup_service_is_hardened_like_the_others()
    {
        var backup = ComposeService("backup");
        var postgres = ComposeService("postgres");

        Assert.Equal(postgres.Scalar("image"), backup.Scalar("image"));
        Assert.Equal("docker.io/pgvector/pgvector:0.8.0-pg15", backup.Scalar("image"));
        Assert.False(backup.Has("build"));
        Assert.Equal("999:999", backup.Scalar("user"));
        Assert.Equal("true", backup.Scalar("read_only"));
        Assert.Equal(["no-new-privileges:true"], backup.Strings("security_opt"));
        Assert.Equal(["ALL"], backup.Strings("cap_drop"));
        Assert.False(backup.Has("cap_add"));
        Assert.False(backup.Has("privileged"));
        Assert.Equal(["/tmp:size=64m,mode=1777"], backup.Strings("tmpfs"));
        var resources = backup.Map("deploy").Map("resources");
        Assert.Equal(("256M", "0.5"), (resources.Map("limits").Scalar("memory"), resources.Map("limits").Scalar("cpus")));
        Assert.Equal("64M", resources.Map("reservations").Scalar("memory"));
        Assert.Equal(["max-size", "max-file"], backup.Map("logging").Map("options").Keys());

        // Internal network only, no ports, after postgres is healthy.
        Assert.Equal(["cartrita-internal"], backup.Strings("networks"));
        Assert.False(backup.Has("ports"));
        Assert.Equal(["postgres"], backup.Map("depends_on").Keys());
        Assert.Equal("service_healthy", backup.Map("depends_on").Map("postgres").Scalar("condition"));
    }

    [Fact]
    public void Compose_backup_service_reads_the_owner_password_secret_file_not_a_value()
    {
        var backup = ComposeService("backup");
        var environment = backup.Map("environment");

        // The database's owner, never the superuser: a restored dump's COPY … TO PROGRAM is refused by the server.
        Assert.Equal(["postgres-owner-password"], backup.Strings("secrets"));
        Assert.Equal("/run/secrets/postgres-owner-password", environment.Scalar("BACKUP_PASSWORD_FILE"));
        foreach (var variable in new[] { "BACKUP_PASSWORD", "PGPASSWORD", "POSTGRES_PASSWORD" })
        {
            Assert.False(environment.Has(variable), $"{variable} is in the environment");
        }
        Assert.Equal("./secrets/postgres-owner-password", published.ProductionCompose.Map("secrets").Map("postgres-owner-password").Scalar("file"));

        var service = Section(published.Compose.Files[ComposePublisher.ProductionFile], "  backup:");
        foreach (var secret in published.SecretValues)
        {
            Assert.DoesNotContain(secret, service);
        }
        Assert.Equal(("postgres", "5432", "cartrita_owner", "cartrita"),
            (environment.Scalar("PGHOST"), environment.Scalar("PGPORT"), environment.Scalar("PGUSER"), environment.Scalar("PGDATABASE")));
    }

    [Fact]
    public void Compose_backups_go_to_their_named_volume_and_retention_is_a_setting()
    {
        var backup = ComposeService("backup");
        var environment = backup.Map("environment");

        Assert.Equal(["cartrita-backups:/var/lib/postgresql/data", "./backup.sh:/opt/backup/backup.sh:ro"], backup.Strings("volumes"));
        Assert.Equal("/var/lib/postgresql/data", environment.Scalar("BACKUP_DIR"));
        Assert.True(published.ProductionCompose.Map("volumes").Has("cartrita-backups"));
        Assert.Equal("${BACKUP_KEEP:-7}", environment.Scalar("BACKUP_KEEP"));
        Assert.Contains("BACKUP_KEEP=", published.Compose.Files[ComposePublisher.EnvExampleFile].Split('\n'));
        Assert.Equal(PublishOutput.Header("publish compose", "aspire-manifest.json", "publish-profile.yaml") + BackupJob.Script,
            published.Compose.Files["backup.sh"]);
    }

    [Fact]
    public void Docker_compose_accepts_the_file_with_the_backup_profile_enabled()
    {
        var file = Path.Combine(published.Compose.Directory, ComposePublisher.ProductionFile);
        var result = Repo.Run("docker-compose", ["-f", Path.GetFileName(file), "--profile", "backup", "config", "-q"], Path.GetDirectoryName(file));

        Assert.True(result.ExitCode == 0, result.Output);
    }

    // ---- Kubernetes ----

    [Fact]
    public void Kubernetes_backup_is_a_CronJob_on_the_profiles_schedule()
    {
        var cronJob = CronJob;

        Assert.Equal("backup", cronJob.Metadata.Name);
        Assert.Equal("0 3 * * *", cronJob.Spec.Schedule);
        Assert.Equal("Forbid", cronJob.Spec.ConcurrencyPolicy);
        Assert.InRange(cronJob.Spec.SuccessfulJobsHistoryLimit ?? 3, 1, 3);
        Assert.InRange(cronJob.Spec.FailedJobsHistoryLimit ?? 1, 1, 3);
        var job = cronJob.Spec.JobTemplate.Spec;
        Assert.Equal("Never", job.Template.Spec.RestartPolicy);
        Assert.NotNull(job.ActiveDeadlineSeconds);
        Assert.NotNull(job.BackoffLimit);

        var container = job.Template.Spec.Containers.Single();
        Assert.Equal("docker.io/pgvector/pgvector:0.8.0-pg15", container.Image);
        Assert.Equal(["/bin/sh", "/opt/backup/backup.sh"], container.Command);
        Assert.Equal(["backup"], container.Args);
        Assert.Contains("backup.yaml", File.ReadAllText(Path.Combine(published.Kubernetes.Directory, "kustomization.yaml")));
    }

    [Fact]
    public void Kubernetes_backup_pod_is_hardened_like_the_others()
    {
        var pod = CronJob.Spec.JobTemplate.Spec.Template.Spec;
        var container = pod.Containers.Single();

        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.Equal<long?>(999, pod.SecurityContext.RunAsUser);
        Assert.Equal<long?>(999, pod.SecurityContext.FsGroup); // the claim is writable for the postgres user
        Assert.Equal("RuntimeDefault", pod.SecurityContext.SeccompProfile.Type);
        Assert.False(pod.AutomountServiceAccountToken ?? true);
        Assert.False(pod.EnableServiceLinks ?? true);

        var security = container.SecurityContext;
        Assert.False(security.AllowPrivilegeEscalation ?? true);
        Assert.True(security.ReadOnlyRootFilesystem);
        Assert.True(security.RunAsNonRoot);
        Assert.Equal(["ALL"], security.Capabilities.Drop);
        Assert.Null(security.Capabilities.Add);
        Assert.Equal("RuntimeDefault", security.SeccompProfile.Type);
        Assert.Equal(("500m", "256Mi"), (container.Resources.Limits["cpu"].ToString(), container.Resources.Limits["memory"].ToString()));
        Assert.Equal(("100m", "64Mi"), (container.Resources.Requests["cpu"].ToString(), container.Resources.Requests["memory"].ToString()));
        Assert.Contains(container.VolumeMounts, m => m.MountPath == "/tmp");
    }

    [Fact]
    public void Kubernetes_backup_reads_the_owner_password_from_a_Secret_of_its_own()
    {
        var container = CronJob.Spec.JobTemplate.Spec.Template.Spec.Containers.Single();

        var password = Assert.Single(container.Env);
        Assert.Equal("BACKUP_PASSWORD", password.Name);
        Assert.Null(password.Value);
        var reference = password.ValueFrom.SecretKeyRef;
        Assert.Equal("postgres-owner-password", reference.Key); // Secret keys are the parameters
        // postgres's Secret holds the superuser's password only: the job has one of its own, with the owner's alone.
        var secret = Objects.OfType<V1Secret>().Single(s => s.Metadata.Name.StartsWith("backup-secrets-", StringComparison.Ordinal));
        Assert.Equal(secret.Metadata.Name, reference.Name);
        Assert.Equal(["postgres-owner-password"], secret.Data.Keys);

        var environment = Objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == "backup-env").Data;
        Assert.Equal(["BACKUP_DIR", "BACKUP_KEEP", "PGDATABASE", "PGHOST", "PGPORT", "PGUSER"], environment.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(("postgres", "cartrita", "7", "cartrita_owner"), (environment["PGHOST"], environment["PGDATABASE"], environment["BACKUP_KEEP"], environment["PGUSER"]));
        foreach (var file in new[] { "backup.yaml", "backup.sh", "kustomization.yaml" })
        {
            foreach (var value in published.SecretValues)
            {
                Assert.False(published.Kubernetes.Files[file].Contains(value, StringComparison.Ordinal), $"{file} contains a secret value");
            }
        }
    }

    [Fact]
    public void Kubernetes_backups_go_to_a_claim_of_their_own_and_the_script_is_a_generated_ConfigMap()
    {
        var pod = CronJob.Spec.JobTemplate.Spec.Template.Spec;
        var container = pod.Containers.Single();

        var claim = Objects.OfType<V1PersistentVolumeClaim>().Single(c => c.Metadata.Name == "cartrita-backups");
        Assert.Equal("10Gi", claim.Spec.Resources.Requests["storage"].ToString());
        Assert.Equal(["ReadWriteOnce"], claim.Spec.AccessModes);
        var volume = pod.Volumes.Single(v => v.PersistentVolumeClaim is not null);
        Assert.Equal("cartrita-backups", volume.PersistentVolumeClaim.ClaimName);
        Assert.Contains(container.VolumeMounts, m => m.Name == volume.Name && m.MountPath == "/var/lib/postgresql/data" && m.ReadOnlyProperty != true);

        var script = pod.Volumes.Single(v => v.ConfigMap is not null).ConfigMap;
        var configMap = Objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == script.Name);
        Assert.StartsWith("backup-script-", configMap.Metadata.Name, StringComparison.Ordinal); // content hash: the CronJob follows changes
        Assert.Equal(published.Kubernetes.Files["backup.sh"], configMap.Data["backup.sh"]);
        Assert.Contains(container.VolumeMounts, m => m.MountPath == "/opt/backup" && m.ReadOnlyProperty == true);
    }

    [Fact]
    public void Kubernetes_network_policies_let_the_backup_reach_postgres_and_nothing_else()
    {
        var policies = Objects.OfType<V1NetworkPolicy>().ToDictionary(p => p.Metadata.Name);

        var egress = Assert.Single(policies["backup-egress"].Spec.Egress);
        Assert.Equal("postgres", Assert.Single(egress.To).PodSelector.MatchLabels["app.kubernetes.io/name"]);
        Assert.Equal("5432", Assert.Single(egress.Ports).Port.Value);
        Assert.Contains(policies["postgres-ingress"].Spec.Ingress.SelectMany(r => r.FromProperty ?? []),
            p => p.PodSelector?.MatchLabels["app.kubernetes.io/name"] == "backup");
        Assert.False(policies.ContainsKey("backup-ingress"));
        Assert.DoesNotContain(policies.Values.Where(p => p.Metadata.Name != "postgres-ingress").SelectMany(p => p.Spec.Ingress ?? []),
            r => (r.FromProperty ?? []).Any(p => p.PodSelector?.MatchLabels is { } labels && labels.TryGetValue("app.kubernetes.io/name", out var app) && app == "backup"));
    }

    // ---- The plan, on other input ----

    [Fact]
    public void Without_a_backup_section_there_is_no_backup_job()
    {
        var plan = DeploymentPlan.Create(ManifestReader.Parse(Encoding.UTF8.GetBytes(ShopManifest), "/app/aspire-manifest.json"), DeploymentProfile.Empty());

        Assert.Null(plan.Backup);
    }

    [Fact]
    public void The_backup_keys_off_any_database_resource_of_a_postgres_server()
    {
        var plan = Plan("backup:\n  database: catalogdb\n  keep: 3\n  schedule: \"*/30 * * * *\"\n  name: db-backup\n");
        var backup = plan.Backup!;

        Assert.Equal(("db-backup", "pg", "catalogdb"), (backup.Workload.Name, backup.Server.Name, backup.Database));
        Assert.Equal("*/30 * * * *", backup.Schedule);
        Assert.Equal("2Gi", backup.Storage); // the server's storage by default
        Assert.Equal(new ImageReference("docker.io/library/postgres:17.0"), backup.Workload.Image);
        Assert.Equal("999:999", backup.Workload.User);
        Assert.Equal(new Volume("shop-backups", "/var/lib/postgresql/data", false), backup.Volume);
        string Variable(string name) => backup.Workload.Environment.Single(v => v.Name == name).Value.ToString();
        Assert.Equal(("pg", "5432", "postgres", "catalogdb", "/var/lib/postgresql/data"),
            (Variable("PGHOST"), Variable("PGPORT"), Variable("PGUSER"), Variable("PGDATABASE"), Variable("BACKUP_DIR")));
        Assert.Equal("${BACKUP_KEEP}", Variable("BACKUP_KEEP"));
        Assert.Equal("{pg-password.value}", Variable("BACKUP_PASSWORD"));
        Assert.Contains("BACKUP_PASSWORD", backup.Workload.FileEnvironment);
        Assert.Equal([new WorkloadDependency("pg", DependencyCondition.Healthy)], backup.Workload.Dependencies);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Kubernetes_uses_the_servers_Secret_when_it_has_the_password_and_generates_one_otherwise(bool serverHasIt)
    {
        var manifestJson = serverHasIt ? ShopManifest : ShopManifest.Replace("\"POSTGRES_PASSWORD\": \"{pg-password.value}\"", "\"TZ\": \"UTC\"", StringComparison.Ordinal);
        var manifest = ManifestReader.Parse(Encoding.UTF8.GetBytes(manifestJson), "/app/aspire-manifest.json");
        var profile = DeploymentProfile.Parse("name: shop\nbackup:\n  database: catalogdb\n", "profile.yaml");
        var plan = DeploymentPlan.Create(manifest, profile);
        var values = new ParameterValues(manifest, profile, new Dictionary<string, string> { ["PG_PASSWORD"] = "shop-secret-value" }, null, null);

        var output = new Kubernetes.KubernetesPublisher(plan, values).Publish("/app/k8s", "aspire-manifest.json");

        var cronJob = KubernetesYaml.LoadAllFromString(output.Files["backup.yaml"]).OfType<V1CronJob>().Single();
        var reference = cronJob.Spec.JobTemplate.Spec.Template.Spec.Containers.Single().Env.Single().ValueFrom.SecretKeyRef;
        Assert.Equal(serverHasIt ? ("pg-secrets", "pg-password") : ("backup-secrets", "pg-password"), (reference.Name, reference.Key));
        Assert.Equal(serverHasIt, !output.Files["kustomization.yaml"].Contains("name: backup-secrets", StringComparison.Ordinal));
        Assert.Equal("shop-secret-value", output.SecretFiles["secrets/pg-password"]);
        Assert.All(output.Files.Values, f => Assert.DoesNotContain("shop-secret-value", f));
    }

    [Theory]
    [InlineData("backup:\n  keep: 3\n", "'database' is required")]
    [InlineData("backup:\n  database: nothing\n", "database 'nothing' is not a resource")]
    [InlineData("backup:\n  database: cache\n", "does not run a known PostgreSQL image")]
    [InlineData("backup:\n  database: plaindb\n", "Password of 'plaindb' must be one secret parameter")]
    [InlineData("backup:\n  database: catalogdb\n  name: pg\n", "name 'pg' is already a resource")]
    [InlineData("backup:\n  database: catalogdb\n  keep: 0\n", "keep must be at least 1")]
    [InlineData("backup:\n  database: catalogdb\n  user: owner\n", "'user' needs 'passwordParameter'")]
    [InlineData("backup:\n  database: catalogdb\n  user: owner\n  passwordParameter: nothing\n", "passwordParameter 'nothing' is not a parameter")]
    [InlineData("backup:\n  database: catalogdb\n  user: owner\n  passwordParameter: pg-user\n", "passwordParameter 'pg-user' must be a secret parameter")]
    public void A_backup_that_cannot_work_is_an_error(string profile, string message)
    {
        var error = Assert.Throws<PublishingException>(() => Plan(profile));

        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void The_backup_may_act_as_a_role_of_its_own_instead_of_the_connection_strings_user()
    {
        var plan = Plan("backup:\n  database: catalogdb\n  user: catalog_owner\n  passwordParameter: owner-password\n");

        string Variable(string name) => plan.Backup!.Workload.Environment.Single(v => v.Name == name).Value.ToString();
        Assert.Equal(("catalog_owner", "{owner-password.value}", "catalogdb"), (Variable("PGUSER"), Variable("BACKUP_PASSWORD"), Variable("PGDATABASE")));
    }

    private static DeploymentPlan Plan(string profile) => DeploymentPlan.Create(
        ManifestReader.Parse(Encoding.UTF8.GetBytes(ShopManifest), "/app/aspire-manifest.json"),
        DeploymentProfile.Parse("name: shop\nresources:\n  pg:\n    storage: 2Gi\n" + profile, "profile.yaml"));

    private const string ShopManifest = """
        { "resources": {
            "pg-password": { "type": "parameter.v0", "value": "{pg-password.inputs.value}",
              "inputs": { "value": { "type": "string", "secret": true, "default": { "generate": { "minLength": 22 } } } } },
            "owner-password": { "type": "parameter.v0", "value": "{owner-password.inputs.value}",
              "inputs": { "value": { "type": "string", "secret": true } } },
            "pg-user": { "type": "parameter.v0", "value": "{pg-user.inputs.value}", "inputs": { "value": { "type": "string" } } },
            "pg": { "type": "container.v0", "image": "docker.io/library/postgres:17.0",
              "connectionString": "Host={pg.bindings.tcp.host};Port={pg.bindings.tcp.port};Username=postgres;Password={pg-password.value}",
              "volumes": [ { "name": "pg-data", "target": "/var/lib/postgresql/data", "readOnly": false } ],
              "env": { "POSTGRES_PASSWORD": "{pg-password.value}" },
              "bindings": { "tcp": { "scheme": "tcp", "protocol": "tcp", "transport": "tcp", "targetPort": 5432 } } },
            "catalogdb": { "type": "value.v0", "connectionString": "{pg.connectionString};Database=catalogdb" },
            "plaindb": { "type": "value.v0", "connectionString": "Host={pg.bindings.tcp.host};Username=postgres;Password=open;Database=plain" },
            "cache": { "type": "container.v0", "image": "docker.io/library/redis:7.4",
              "connectionString": "Host={cache.bindings.tcp.host};Port={cache.bindings.tcp.port};Username=x;Password={pg-password.value};Database=0",
              "bindings": { "tcp": { "scheme": "tcp", "protocol": "tcp", "transport": "tcp", "targetPort": 6379 } } } } }
        """;

    /// <summary>The lines of one service in a Compose file (from its key to the next service's).</summary>
    private static string Section(string yaml, string start)
    {
        var lines = yaml.Split('\n');
        var first = Array.IndexOf(lines, start);
        Assert.True(first >= 0, $"{start} not found");
        var section = lines.Skip(first + 1).TakeWhile(l => l.StartsWith("    ", StringComparison.Ordinal));
        return string.Join('\n', section);
    }
}
