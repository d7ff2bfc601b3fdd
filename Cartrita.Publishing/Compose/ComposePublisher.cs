using System.Globalization;
using System.Text;
using Cartrita.Publishing.Deployment;
using Cartrita.Publishing.Manifest;

namespace Cartrita.Publishing.Compose;

/// <summary>
/// Writes a deployment plan as Docker Compose files:
/// <list type="bullet">
/// <item><c>docker-compose.prod.yml</c>: every workload hardened (non-root user, read-only root, no-new-privileges,
/// all capabilities dropped, tmpfs for writable paths, limits and reservations, health checks, ordered start with
/// <c>service_healthy</c> / <c>service_completed_successfully</c>, restart policies, an internal and an external network,
/// ports published only for external bindings) with secrets as Docker secrets read from files, never as values;</item>
/// <item><c>docker-compose.yml</c>: only the plain images (the data stores), ports on 127.0.0.1, for development;</item>
/// <item>with a backup job in the profile, a <c>backup</c> service under the Compose profile of that name (run it with
/// <c>docker compose --profile backup run --rm backup</c>), hardened like the rest, and its script <c>backup.sh</c>;</item>
/// <item><c>.env.example</c>: the names of the settings and parameters, without values;</item>
/// <item><c>secrets/</c>: one file per secret (git-ignored), from the deployment's parameter values.</item>
/// </list>
/// Images that cannot read <c>NAME_FILE</c> themselves get a one-line <c>/bin/sh</c> entrypoint that reads their secret
/// files into their environment and then <c>exec</c>s the image's own command.
/// </summary>
public sealed class ComposePublisher(DeploymentPlan plan, ParameterValues values)
{
    /// <summary>The production file.</summary>
    public const string ProductionFile = "docker-compose.prod.yml";

    /// <summary>The development file (data stores only).</summary>
    public const string DevelopmentFile = "docker-compose.yml";

    /// <summary>The names of the settings and parameters.</summary>
    public const string EnvExampleFile = ".env.example";

    private const string SecretsFolder = "secrets";

    /// <summary>Produces the files for <paramref name="outputDirectory"/> (nothing is written yet).</summary>
    /// <param name="outputDirectory">Where the files will go (relative paths in them are computed from here).</param>
    /// <param name="sources">The manifest and profile names for the header.</param>
    public PublishOutput Publish(string outputDirectory, params string[] sources)
    {
        ArgumentNullException.ThrowIfNull(outputDirectory);
        ArgumentNullException.ThrowIfNull(sources);
        var output = new PublishOutput(outputDirectory);
        var context = new Context(plan, values, output);
        var header = PublishOutput.Header("publish compose", sources);

        var production = new ComposeFile();
        foreach (var workload in plan.Workloads)
        {
            production.Services[workload.ServiceName] = context.Service(workload, development: false);
        }
        if (plan.Backup is { } backup)
        {
            production.Services[backup.Workload.ServiceName] = context.BackupService(backup);
            output.Files[BackupJob.ScriptFile] = header + BackupJob.Script;
        }
        context.AddTopLevel(production, development: false);
        output.Files[ProductionFile] = header + ComposeYaml.Serialize(production);

        context.ResetUsage();
        var development = new ComposeFile();
        foreach (var workload in plan.Workloads.Where(w => w.Image is ImageReference && w.Role == WorkloadRole.Service))
        {
            development.Services[workload.ServiceName] = context.Service(workload, development: true);
        }
        context.AddTopLevel(development, development: true);
        output.Files[DevelopmentFile] = header.Replace("(publish compose)", "(publish compose; development: data stores only)", StringComparison.Ordinal) +
            ComposeYaml.Serialize(development);

        output.Files[EnvExampleFile] = context.EnvExample(header);
        return output;
    }

    /// <summary>Escapes text for Compose, which would otherwise interpolate <c>$NAME</c>.</summary>
    public static string Escape(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Replace("$", "$$", StringComparison.Ordinal);
    }

    private sealed class Context(DeploymentPlan plan, ParameterValues values, PublishOutput output)
    {
        private readonly string _prefix = ParameterValues.EnvironmentName(plan.Profile.Name);
        private readonly SortedDictionary<string, string> _settings = new(StringComparer.Ordinal);
        private readonly SortedSet<string> _usedSecrets = new(StringComparer.Ordinal);
        private readonly SortedSet<string> _usedVolumes = new(StringComparer.Ordinal);
        private readonly SortedSet<string> _usedNetworks = new(StringComparer.Ordinal);

        private string InternalNetwork => plan.Profile.Networks.Internal ?? $"{plan.Profile.Name}-internal";
        private string ExternalNetwork => plan.Profile.Networks.External ?? $"{plan.Profile.Name}-external";

        public void ResetUsage()
        {
            _usedSecrets.Clear();
            _usedVolumes.Clear();
            _usedNetworks.Clear();
        }

        public ComposeService Service(Workload workload, bool development)
        {
            var service = new ComposeService
            {
                User = workload.User,
                ReadOnly = true,
                SecurityOpt = ["no-new-privileges:true"],
                CapDrop = ["ALL"],
                // Short syntax with options (docker-compose 1.29 and the compose spec take it): a size, and a mode
                // because a fresh tmpfs is root's under podman and the service is not root.
                Tmpfs = [.. workload.WritablePaths.Where(p => p.ImageDirectory is null).Select(p => $"{p.Path}:size={p.Size.ToLowerInvariant()},mode={p.Mode}")],
                Restart = workload.Restart,
                Deploy = new ComposeDeploy
                {
                    Resources = new ComposeResources
                    {
                        Limits = new ComposeResourceAmount { Cpus = workload.Resources.LimitCpus, Memory = workload.Resources.LimitMemory },
                        // No CPU reservation: Docker has none, and docker-compose 1.29 warns on every command that it
                        // ignores one (Kubernetes gets it as a request).
                        Reservations = new ComposeResourceAmount { Memory = workload.Resources.ReservedMemory },
                    },
                },
                StopSignal = workload.StopSignal,
                StopGracePeriod = workload.Volumes.Count > 0 ? "30s" : null,
                Logging = new ComposeLogging { Options = new() { ["max-size"] = "10m", ["max-file"] = "3" } },
            };

            Image(workload, service);
            Environment(workload, service);
            Ports(workload, service, development);
            Volumes(workload, service);
            Health(workload, service);
            if (!development)
            {
                Networks(workload, service);
                DependsOn(workload, service);
            }
            return service;
        }

        /// <summary>
        /// The backup job: a service like the others (the password a Docker secret read through <c>BACKUP_PASSWORD_FILE</c>),
        /// started only under its Compose profile, running the script mounted read-only from next to the Compose file.
        /// <c>docker compose run --rm backup list</c> or <c>… restore FILE</c> replace its command.
        /// </summary>
        public ComposeService BackupService(BackupJob backup)
        {
            var service = Service(backup.Workload, development: false);
            service.Profiles = [backup.Workload.ServiceName];
            service.Entrypoint = [.. BackupJob.Entrypoint];
            service.Command = [.. BackupJob.Arguments];
            service.Volumes = [.. service.Volumes ?? [], $"./{BackupJob.ScriptFile}:{BackupJob.ScriptPath}:ro"];
            return service;
        }

        private void Image(Workload workload, ComposeService service)
        {
            switch (workload.Image)
            {
                case ImageReference reference:
                    service.Image = reference.Image;
                    break;
                case ImageBuild build:
                    service.Image = BuiltImage(workload);
                    service.Build = new ComposeBuild
                    {
                        Context = RelativeFromOutput(build.Context),
                        Dockerfile = Path.GetRelativePath(build.Context, build.Dockerfile).Replace('\\', '/'),
                        Args = build.Args.Count == 0 ? null : build.Args.ToDictionary(a => a.Key, a => Escape(a.Value)),
                    };
                    break;
                case ProjectImage:
                    // Built with `dotnet publish /t:PublishContainer` and pushed under this name.
                    service.Image = BuiltImage(workload);
                    break;
            }
        }

        private string BuiltImage(Workload workload)
        {
            var registry = Setting($"{_prefix}_REGISTRY", plan.Profile.Name);
            var tag = Setting($"{_prefix}_TAG", "latest");
            return $"{registry}/{workload.ServiceName}:{tag}";
        }

        private void Environment(Workload workload, ComposeService service)
        {
            var environment = new Dictionary<string, string>(StringComparer.Ordinal);
            var shimmed = new List<WorkloadVariable>();
            var secrets = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var variable in workload.Environment)
            {
                if (!variable.Value.IsSecret)
                {
                    environment[variable.Name] = Render(variable.Value);
                }
                else if (variable.Value.SingleParameter is { } parameter && workload.FileEnvironment.Contains(variable.Name))
                {
                    // The image reads NAME_FILE itself.
                    var file = AddSecret(parameter.Parameter);
                    secrets.Add(file);
                    environment[$"{variable.Name}_FILE"] = $"{SecretShim.Directory}/{file}";
                }
                else
                {
                    shimmed.Add(variable);
                }
            }
            service.Environment = environment.Count == 0 ? null : environment;

            if (shimmed.Count > 0)
            {
                var command = workload.Command ?? throw new PublishingException(
                    $"resource '{workload.Name}': its secrets ({string.Join(", ", shimmed.Select(f => f.Name))}) are read from files by a " +
                    "small entrypoint that then runs the image's command, but that command is unknown (no Dockerfile CMD, no known image). " +
                    "Set 'command' for it in the deployment profile.");
                var (script, _) = SecretShim.Create(shimmed, values.Get);
                foreach (var parameter in shimmed.SelectMany(v => v.Value.ParameterParts).Where(p => p.Secret))
                {
                    secrets.Add(AddSecret(parameter.Parameter));
                }
                service.Entrypoint = ["/bin/sh", "-c", Escape(script), workload.ServiceName];
                service.Command = [.. command.Select(Render)];
            }
            else
            {
                service.Entrypoint = workload.Entrypoint is null ? null : [Escape(workload.Entrypoint)];
                service.Command = workload.Args is null ? null : [.. workload.Args.Select(Render)];
            }
            service.Secrets = secrets.Count == 0 ? null : [.. secrets];
        }

        private void Ports(Workload workload, ComposeService service, bool development)
        {
            var published = workload.Ports.Where(p => development || p.External).ToList();
            if (published.Count == 0)
            {
                return;
            }
            service.Ports = [.. published.Select(port =>
            {
                var name = published.Count == 1
                    ? $"{ParameterValues.EnvironmentName(workload.Name)}_PORT"
                    : $"{ParameterValues.EnvironmentName(workload.Name)}_{ParameterValues.EnvironmentName(port.Name)}_PORT";
                var hostPort = Setting(name, port.HostPort.ToString(CultureInfo.InvariantCulture));
                var container = port.ContainerPort.ToString(CultureInfo.InvariantCulture);
                // Loopback unless the deployment opens it (a reverse proxy on the host is the usual way in). A proxied
                // workload has a setting of its own, so that opening the shared one (the frontend) does not open it too.
                var bindAddress = workload.Proxied ? $"{ParameterValues.EnvironmentName(workload.Name)}_BIND_ADDRESS" : $"{_prefix}_BIND_ADDRESS";
                return development ? $"127.0.0.1:{hostPort}:{container}" : $"{Setting(bindAddress, "127.0.0.1")}:{hostPort}:{container}";
            })];
        }

        private void Volumes(Workload workload, ComposeService service)
        {
            var mounts = new List<string>();
            // Named volumes keep the manifest's name as it is, not a DnsName.Slug: Docker takes dots and underscores
            // (Aspire's generated names have them), and a renamed volume would be a new, empty one.
            foreach (var volume in workload.Volumes)
            {
                _usedVolumes.Add(volume.Name);
                mounts.Add($"{volume.Name}:{volume.Target}{(volume.ReadOnly ? ":ro" : "")}");
            }
            // A directory the image makes for its user (PostgreSQL's socket directory): a volume of its own, filled from
            // the image with its owner and mode (a tmpfs there would be root's under Podman).
            foreach (var path in workload.WritablePaths.Where(p => p.ImageDirectory is not null))
            {
                var name = $"{workload.ServiceName}-run";
                _usedVolumes.Add(name);
                mounts.Add($"{name}:{path.ImageDirectory}");
            }
            foreach (var mount in workload.BindMounts)
            {
                var source = RelativeFromOutput(plan.Manifest.ResolvePath(mount.Source));
                mounts.Add($"{(source.StartsWith('.') ? source : "./" + source)}:{mount.Target}{(mount.ReadOnly ? ":ro" : "")}");
            }
            service.Volumes = mounts.Count == 0 ? null : mounts;
        }

        private static void Health(Workload workload, ComposeService service)
        {
            if (workload.Role == WorkloadRole.Job)
            {
                // A run-to-completion job: its exit status, not a probe, is what dependents wait for.
                service.Healthcheck = new ComposeHealthcheck { Disable = true };
                return;
            }
            if (workload.Health?.ComposeTest is { } test)
            {
                service.Healthcheck = new ComposeHealthcheck
                {
                    Test = [.. test.Select(Escape)],
                    Interval = $"{workload.Health.IntervalSeconds}s",
                    Timeout = $"{workload.Health.TimeoutSeconds}s",
                    Retries = workload.Health.Retries,
                    StartPeriod = $"{workload.Health.StartPeriodSeconds}s",
                };
            }
        }

        private void Networks(Workload workload, ComposeService service)
        {
            var networks = new List<string>();
            if (plan.OnInternalNetwork(workload))
            {
                networks.Add(InternalNetwork);
            }
            if (DeploymentPlan.OnExternalNetwork(workload))
            {
                networks.Add(ExternalNetwork);
            }
            _usedNetworks.UnionWith(networks);
            service.Networks = networks;
        }

        private void DependsOn(Workload workload, ComposeService service)
        {
            if (workload.Dependencies.Count == 0)
            {
                return;
            }
            service.DependsOn = workload.Dependencies.ToDictionary(
                d => plan[d.Target].ServiceName,
                d => new ComposeDependency
                {
                    Condition = d.Condition switch
                    {
                        DependencyCondition.Completed => "service_completed_successfully",
                        DependencyCondition.Healthy when plan[d.Target].Health?.ComposeTest is not null => "service_healthy",
                        DependencyCondition.Healthy => throw new PublishingException(
                            $"resource '{workload.Name}' waits for '{d.Target}' to be healthy, but '{d.Target}' has no health check."),
                        _ => "service_started",
                    },
                });
        }

        public void AddTopLevel(ComposeFile file, bool development)
        {
            if (!development && _usedNetworks.Count > 0)
            {
                file.Networks = _usedNetworks.ToDictionary(
                    n => n, n => new ComposeNetwork { Internal = n == InternalNetwork ? true : null });
            }
            if (_usedVolumes.Count > 0)
            {
                file.Volumes = _usedVolumes.ToDictionary(v => v, _ => new ComposeVolume());
            }
            if (_usedSecrets.Count > 0)
            {
                file.Secrets = _usedSecrets.ToDictionary(s => s, s => new ComposeSecret { File = $"./{SecretsFolder}/{s}" });
            }
        }

        public string EnvExample(string header)
        {
            var text = new StringBuilder(header);
            text.AppendLine("#");
            text.AppendLine("# Names only. Copy to .env (git-ignored) and set what you need; leave a line empty for its default.");
            text.AppendLine();
            text.AppendLine($"# Read by docker compose when it starts {ProductionFile} / {DevelopmentFile}:");
            foreach (var name in _settings.Keys)
            {
                text.AppendLine($"{name}=");
            }
            text.AppendLine();
            text.AppendLine("# Read when publishing (the Aspire parameters). Secret values end up only in ./secrets/ (git-ignored),");
            text.AppendLine("# never in the Compose files; unset secrets are generated once and kept there.");
            foreach (var parameter in plan.Manifest.Parameters)
            {
                text.AppendLine($"{ParameterValues.EnvironmentName(parameter.Name)}=");
            }
            return text.ToString();
        }

        /// <summary>The secret file of a secret parameter (its value, nothing derived), by name.</summary>
        private string AddSecret(string parameter)
        {
            var name = ParameterValues.SecretFileName(parameter);
            _usedSecrets.Add(name);
            output.SecretFiles[$"{SecretsFolder}/{name}"] = values.Get(parameter);
            return name;
        }

        private string Setting(string name, string defaultValue)
        {
            _settings[name] = defaultValue;
            return $"${{{name}:-{Escape(defaultValue)}}}";
        }

        private string Render(ResolvedValue value) =>
            value.Render(values.Get, s => Setting(s.Name, s.Default), Escape);

        private string RelativeFromOutput(string path)
        {
            var relative = Path.GetRelativePath(output.Directory, path).Replace('\\', '/');
            return relative.Length == 0 ? "." : relative;
        }
    }
}
