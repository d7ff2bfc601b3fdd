using System.Text.Json;
using k8s;
using k8s.Models;

namespace Cartrita.Publishing.Tests;

/// <summary>deploy/k8s: a kustomization that renders, validates against the API schemas, and meets Pod Security "restricted".</summary>
[Collection(PublishedCartritaCollection.Name)]
public sealed class KubernetesTests(PublishedCartrita published)
{
    private List<object> Objects => KubernetesYaml.LoadAllFromString(published.KustomizeOutput);

    private T Single<T>(string name) where T : IMetadata<V1ObjectMeta> =>
        Objects.OfType<T>().Single(o => o.Metadata.Name == name);

    [Fact]
    public void Kustomize_renders_the_kustomization()
    {
        Assert.True(published.KustomizeResult.ExitCode == 0, published.KustomizeResult.Output);
    }

    [Fact]
    public void Every_document_is_valid_for_the_Kubernetes_API()
    {
        var result = Repo.ValidateKubernetes(published.KustomizeOutput);

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("36 of 36 Kubernetes documents valid", result.Stdout); // the backup job's Secret (the owner's password), the frontend's (the proxy token)
    }

    [Fact]
    public void Every_document_round_trips_through_KubernetesClient_models()
    {
        foreach (var document in published.KustomizeOutput.Split("\n---\n"))
        {
            var model = KubernetesYaml.LoadAllFromString(document).Single();
            Assert.IsNotType<JsonElement>(model); // a known k8s.Models type, not an unknown kind

            var original = Normalize(document);
            var roundTripped = Normalize(KubernetesYaml.Serialize(model));
            Assert.Equal(original, roundTripped);
        }
    }

    [Fact]
    public void The_namespace_enforces_the_restricted_pod_security_standard()
    {
        var ns = Single<V1Namespace>("cartrita");

        Assert.Equal("restricted", ns.Metadata.Labels["pod-security.kubernetes.io/enforce"]);
        Assert.Equal("restricted", ns.Metadata.Labels["pod-security.kubernetes.io/warn"]);
        Assert.Equal("restricted", ns.Metadata.Labels["pod-security.kubernetes.io/audit"]);
        Assert.All(Objects.OfType<IMetadata<V1ObjectMeta>>().Where(o => o is not V1Namespace), o => Assert.Equal("cartrita", o.Metadata.NamespaceProperty));
    }

    [Fact]
    public void Every_pod_meets_the_restricted_pod_security_standard()
    {
        var pods = Pods().ToList();
        Assert.Equal(["ai-orchestrator", "backup", "frontend", "migrations", "postgres", "redis"], pods.Select(p => p.Name).Order());

        foreach (var (name, pod) in pods)
        {
            Assert.True(pod.SecurityContext.RunAsNonRoot, $"{name}: runAsNonRoot");
            Assert.Equal("RuntimeDefault", pod.SecurityContext.SeccompProfile.Type);
            Assert.NotEqual<long?>(0, pod.SecurityContext.RunAsUser);
            Assert.False(pod.HostNetwork ?? false);
            Assert.False(pod.HostPID ?? false);
            Assert.False(pod.HostIPC ?? false);
            Assert.False(pod.AutomountServiceAccountToken ?? true, $"{name}: service account token mounted");
            foreach (var volume in pod.Volumes ?? [])
            {
                Assert.Null(volume.HostPath);
                Assert.True(volume.EmptyDir is not null || volume.PersistentVolumeClaim is not null || volume.ConfigMap is not null || volume.Secret is not null,
                    $"{name}: volume {volume.Name} has a type restricted pods may not use");
            }

            foreach (var container in (pod.InitContainers ?? []).Concat(pod.Containers))
            {
                var security = container.SecurityContext;
                var where = $"{name}/{container.Name}";
                Assert.False(security.AllowPrivilegeEscalation ?? true, $"{where}: allowPrivilegeEscalation");
                Assert.True(security.ReadOnlyRootFilesystem, $"{where}: readOnlyRootFilesystem");
                Assert.True(security.RunAsNonRoot ?? pod.SecurityContext.RunAsNonRoot, $"{where}: runAsNonRoot");
                Assert.NotEqual<long?>(0, security.RunAsUser ?? pod.SecurityContext.RunAsUser);
                Assert.False(security.Privileged ?? false);
                Assert.Equal(["ALL"], security.Capabilities.Drop);
                Assert.True(security.Capabilities.Add is null || security.Capabilities.Add.All(c => c == "NET_BIND_SERVICE"));
                Assert.Equal("RuntimeDefault", (security.SeccompProfile ?? pod.SecurityContext.SeccompProfile).Type);

                foreach (var resource in new[] { "cpu", "memory" })
                {
                    Assert.True(container.Resources.Requests.ContainsKey(resource), $"{where}: no {resource} request");
                    Assert.True(container.Resources.Limits.ContainsKey(resource), $"{where}: no {resource} limit");
                }
                Assert.Contains(container.VolumeMounts, m => m.MountPath == "/tmp");
            }
        }
    }

    [Fact]
    public void Services_have_readiness_and_liveness_probes()
    {
        foreach (var (name, pod) in Pods().Where(p => p.Name is not ("migrations" or "backup")))
        {
            var container = pod.Containers.Single();
            Assert.NotNull(container.ReadinessProbe);
            Assert.NotNull(container.LivenessProbe);
            Assert.NotNull(container.StartupProbe);
        }
        Assert.Equal("/health", Single<V1Deployment>("ai-orchestrator").Spec.Template.Spec.Containers[0].ReadinessProbe.HttpGet.Path);
        Assert.Equal("/health", Single<V1Deployment>("ai-orchestrator").Spec.Template.Spec.Containers[0].LivenessProbe.HttpGet.Path);
        Assert.Equal("/api/health", Single<V1Deployment>("frontend").Spec.Template.Spec.Containers[0].ReadinessProbe.HttpGet.Path);
        Assert.Equal("/api/health", Single<V1Deployment>("frontend").Spec.Template.Spec.Containers[0].LivenessProbe.HttpGet.Path);
        Assert.Contains("pg_isready", Single<V1StatefulSet>("postgres").Spec.Template.Spec.Containers[0].ReadinessProbe.Exec.Command);
    }

    [Fact]
    public void Postgres_is_a_StatefulSet_with_a_claim_and_a_headless_service()
    {
        var postgres = Single<V1StatefulSet>("postgres");
        var claim = Assert.Single(postgres.Spec.VolumeClaimTemplates);
        Assert.Equal("10Gi", claim.Spec.Resources.Requests["storage"].ToString());
        Assert.Contains(postgres.Spec.Template.Spec.Containers[0].VolumeMounts, m => m.Name == claim.Metadata.Name && m.MountPath == "/var/lib/postgresql/data");
        Assert.Equal("postgres", postgres.Spec.ServiceName);
        Assert.Equal("None", Single<V1Service>("postgres").Spec.ClusterIP);
        Assert.Equal<long?>(999, postgres.Spec.Template.Spec.SecurityContext.FsGroup);
        // PGDATA below the volume's root (which may hold lost+found), and the socket directory writable.
        Assert.Equal("/var/lib/postgresql/data/pgdata", Single<V1ConfigMap>("postgres-env").Data["PGDATA"]);
        Assert.Contains(postgres.Spec.Template.Spec.Containers[0].VolumeMounts, m => m.MountPath == "/var/run/postgresql");
    }

    [Fact]
    public void The_migrations_run_as_a_job_and_before_the_orchestrator_serves()
    {
        var job = Single<V1Job>("migrations");
        Assert.Equal("OnFailure", job.Spec.Template.Spec.RestartPolicy);
        Assert.Equal("cartrita/migrations:latest", job.Spec.Template.Spec.Containers[0].Image);

        var orchestrator = Single<V1Deployment>("ai-orchestrator").Spec.Template.Spec;
        var init = Assert.Single(orchestrator.InitContainers);
        Assert.Equal(("migrations", "cartrita/migrations:latest"), (init.Name, init.Image));
        Assert.Contains(init.Env, e => e.Name == "CARTRITA_DB_OWNER_PASSWORD" && e.ValueFrom.SecretKeyRef.Name.StartsWith("migrations-secrets-", StringComparison.Ordinal));
        // The connection strings are built in the pod from the mounted Secret (its keys are the parameters): the owner's to
        // migrate, the superuser's to create the roles.
        Assert.Contains("\"ConnectionStrings__cartrita=Host=postgres;Port=5432;Username=cartrita_owner;Password=$p1;Database=cartrita\"", init.Command[2]);
        Assert.Contains("\"ConnectionStrings__postgres-admin=Host=postgres;Port=5432;Username=robbie;Password=$p0\"", init.Command[2]);
        Assert.Contains(init.VolumeMounts, m => m.MountPath == "/run/secrets" && m.ReadOnlyProperty == true);
    }

    /// <summary>
    /// Issue 17, database roles: the superuser's password is in the migrations' Secret only (the Job, and the same worker
    /// as the orchestrator's init container), and a container that does not run the worker never sees it; the orchestrator
    /// connects as cartrita_app, the backup CronJob as cartrita_owner.
    /// </summary>
    [Fact]
    public void Only_the_migration_worker_gets_the_superuser_password_and_the_orchestrator_is_the_app_role()
    {
        var secrets = Objects.OfType<V1Secret>().ToList();
        Assert.Equal(["migrations-secrets", "postgres-secrets"],
            secrets.Where(s => s.Data.ContainsKey("postgres-password")).Select(s => s.Metadata.Name[..s.Metadata.Name.LastIndexOf('-')]).Order(StringComparer.Ordinal));
        foreach (var (name, pod) in Pods())
        {
            var mounted = (pod.Volumes ?? []).Where(v => v.Secret is not null).ToDictionary(v => v.Name, v => v.Secret.SecretName);
            foreach (var container in pod.Containers.Concat(pod.InitContainers ?? []))
            {
                var secretNames = (container.Env ?? []).Where(e => e.ValueFrom?.SecretKeyRef is not null).Select(e => e.ValueFrom.SecretKeyRef.Name)
                    .Concat((container.VolumeMounts ?? []).Where(m => mounted.ContainsKey(m.Name)).Select(m => mounted[m.Name]));
                var superuser = secretNames.Any(s => secrets.Single(x => x.Metadata.Name == s).Data.ContainsKey("postgres-password"));
                Assert.True(superuser == (container.Name is "migrations" or "postgres"), $"{name}/{container.Name} {(superuser ? "gets" : "does not get")} the superuser's password");
            }
        }

        var orchestrator = Single<V1Deployment>("ai-orchestrator").Spec.Template.Spec.Containers.Single();
        Assert.Contains("\"DATABASE_URL=postgresql://cartrita_app:$(u \"$p", orchestrator.Command[2]);
        Assert.DoesNotContain("robbie", orchestrator.Command[2]);
        var backupEnvironment = Objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name.StartsWith("backup-env", StringComparison.Ordinal));
        Assert.Equal("cartrita_owner", backupEnvironment.Data["PGUSER"]);
    }

    [Fact]
    public void The_orchestrator_and_the_frontend_scale_horizontally()
    {
        foreach (var name in new[] { "ai-orchestrator", "frontend" })
        {
            var autoscaler = Single<V2HorizontalPodAutoscaler>(name);
            Assert.Equal(("Deployment", name), (autoscaler.Spec.ScaleTargetRef.Kind, autoscaler.Spec.ScaleTargetRef.Name));
            Assert.Equal<int?>(2, autoscaler.Spec.MinReplicas);
            Assert.Equal<int?>(70, autoscaler.Spec.Metrics.Single().Resource.Target.AverageUtilization);
            Assert.Null(Single<V1Deployment>(name).Spec.Replicas); // the autoscaler owns it
        }
        var orchestrator = Single<V1Deployment>("ai-orchestrator").Spec.Template.Spec.Containers[0].Resources;
        Assert.Equal(("1", "2Gi"), (orchestrator.Limits["cpu"].ToString(), orchestrator.Limits["memory"].ToString()));
        Assert.Equal(("500m", "1Gi"), (orchestrator.Requests["cpu"].ToString(), orchestrator.Requests["memory"].ToString()));
    }

    [Fact]
    public void No_secret_is_in_a_ConfigMap_or_a_committed_file()
    {
        var secretKeys = Objects.OfType<V1Secret>().SelectMany(s => s.Data.Keys).ToHashSet();
        foreach (var configMap in Objects.OfType<V1ConfigMap>())
        {
            foreach (var (key, value) in configMap.Data)
            {
                Assert.DoesNotContain(key, secretKeys);
                foreach (var secret in published.SecretValues)
                {
                    Assert.DoesNotContain(secret, value);
                }
            }
        }
        foreach (var (file, content) in published.Kubernetes.Files)
        {
            foreach (var secret in published.SecretValues)
            {
                Assert.False(content.Contains(secret, StringComparison.Ordinal), $"{file} contains a secret value");
            }
        }

        // The Secrets kustomize generates carry the values, from the git-ignored files.
        var orchestrator = Objects.OfType<V1Secret>().Single(s => s.Metadata.Name.StartsWith("ai-orchestrator-secrets-", StringComparison.Ordinal));
        Assert.Equal(published.Kubernetes.SecretFiles["secrets/jwt-secret"], System.Text.Encoding.UTF8.GetString(orchestrator.Data["jwt-secret"]));
    }

    [Fact]
    public void Network_policies_deny_everything_but_the_paths_the_app_uses()
    {
        var policies = Objects.OfType<V1NetworkPolicy>().ToDictionary(p => p.Metadata.Name);

        var deny = policies["default-deny-all"].Spec;
        Assert.Empty(deny.PodSelector.MatchLabels ?? new Dictionary<string, string>());
        Assert.Equal(["Ingress", "Egress"], deny.PolicyTypes);
        Assert.Null(deny.Ingress);
        Assert.Null(deny.Egress);

        Assert.Equal(["frontend"], IngressFrom(policies, "ai-orchestrator"));
        Assert.Equal(["ai-orchestrator", "backup", "migrations"], IngressFrom(policies, "postgres"));
        Assert.Equal(["ai-orchestrator"], IngressFrom(policies, "redis"));
        Assert.Equal(["postgres"], EgressTo(policies, "migrations"));
        Assert.Equal(["postgres", "redis"], EgressTo(policies, "ai-orchestrator"));
        Assert.Equal(["ai-orchestrator"], EgressTo(policies, "frontend"));
        Assert.Equal(["postgres"], EgressTo(policies, "backup"));

        // The frontend's binding accepts traffic from outside (an ingress controller, a load balancer); nothing else does.
        // The orchestrator is proxied (issue 17: a rule with only `ports:` let any pod or address in): the frontend's pods,
        // and the namespaces the profile names (none by default).
        Assert.Contains(policies["frontend-ingress"].Spec.Ingress, r => r.FromProperty is null && r.Ports.Single().Port.Value == "3000");
        foreach (var policy in policies.Values.Where(p => p.Metadata.Name != "frontend-ingress"))
        {
            Assert.All(policy.Spec.Ingress ?? [], r => Assert.True(r.FromProperty is { Count: > 0 }, $"{policy.Metadata.Name} has a rule open to any source"));
        }
        Assert.Equal([["frontend"]], policies["ai-orchestrator-ingress"].Spec.Ingress.Select(r => r.FromProperty.Select(p => p.PodSelector.MatchLabels["app.kubernetes.io/name"]).ToList()));
        // Only the orchestrator may call the internet (AI providers), and not the cloud's metadata service (node
        // credentials at 169.254.169.254) nor private or shared address space.
        var internet = policies["ai-orchestrator-egress"].Spec.Egress.SelectMany(r => r.To).Single(t => t.IpBlock is not null).IpBlock;
        Assert.Equal("0.0.0.0/0", internet.Cidr);
        Assert.Equal(["10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16"], internet.Except.Order(StringComparer.Ordinal));
        Assert.DoesNotContain(policies.Values.Where(p => p.Metadata.Name != "ai-orchestrator-egress").SelectMany(p => p.Spec.Egress ?? []),
            r => r.To.Any(t => t.IpBlock is not null));
    }

    [Fact]
    public void Committed_kubernetes_files_are_what_publishing_makes_now()
    {
        var publisher = new Publisher(Repo.Path("aspire-manifest.json"), Repo.Path(PublishedCartrita.Profile),
            new Dictionary<string, string>(), useDeploymentInputs: false);
        var output = publisher.Kubernetes(Repo.Path("deploy", "k8s"));

        foreach (var (file, content) in output.Files)
        {
            var path = Repo.Path("deploy", "k8s", file);
            Assert.True(File.Exists(path), $"deploy/k8s/{file} is missing: run `./cartrita publish k8s`.");
            Assert.True(content == File.ReadAllText(path).Replace("\r\n", "\n"),
                $"deploy/k8s/{file} is stale: run `./cartrita publish k8s` and commit the result.");
        }
    }

    private IEnumerable<(string Name, V1PodSpec Pod)> Pods() =>
        Objects.Select<object, (string, V1PodSpec)?>(o => o switch
        {
            V1Deployment d => (d.Metadata.Name, d.Spec.Template.Spec),
            V1StatefulSet s => (s.Metadata.Name, s.Spec.Template.Spec),
            V1Job j => (j.Metadata.Name, j.Spec.Template.Spec),
            V1CronJob c => (c.Metadata.Name, c.Spec.JobTemplate.Spec.Template.Spec),
            _ => null,
        }).OfType<(string, V1PodSpec)>();

    private static List<string> IngressFrom(Dictionary<string, V1NetworkPolicy> policies, string target) =>
        [.. policies[$"{target}-ingress"].Spec.Ingress.Where(r => r.FromProperty is not null)
            .SelectMany(r => r.FromProperty.Select(p => p.PodSelector.MatchLabels["app.kubernetes.io/name"])).Order()];

    private static List<string> EgressTo(Dictionary<string, V1NetworkPolicy> policies, string source) =>
        [.. policies[$"{source}-egress"].Spec.Egress.Where(r => r.To.All(t => t.PodSelector is not null))
            .SelectMany(r => r.To.Select(p => p.PodSelector.MatchLabels["app.kubernetes.io/name"])).Order()];

    /// <summary>JSON with sorted keys; Secret data without the line breaks kustomize wraps base64 in.</summary>
    private static string Normalize(string yaml)
    {
        static object? Sort(object? node) => node switch
        {
            IDictionary<object, object> map => new SortedDictionary<string, object?>(
                map.ToDictionary(p => (string)p.Key, p => Sort(p.Value)), StringComparer.Ordinal),
            IList<object> list => list.Select(Sort).ToList(),
            string text => text.Replace("\n", "", StringComparison.Ordinal),
            // KubernetesClient writes an empty byte[] (an empty optional secret) as null.
            null => "",
            _ => node,
        };
        var value = new YamlDotNet.Serialization.DeserializerBuilder().Build().Deserialize<object>(yaml);
        return JsonSerializer.Serialize(Sort(value));
    }
}
