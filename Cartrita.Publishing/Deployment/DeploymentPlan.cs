using System.Globalization;
using System.Text.RegularExpressions;
using Cartrita.Publishing.Manifest;

namespace Cartrita.Publishing.Deployment;

/// <summary>
/// The target-neutral deployment of a manifest: every workload with its expressions resolved and the profile, the
/// known-image table and the Dockerfiles applied. Compose and Kubernetes are both written from this.
/// </summary>
public sealed partial class DeploymentPlan
{
    private DeploymentPlan(AspireManifest manifest, DeploymentProfile profile, IReadOnlyList<Workload> workloads, BackupJob? backup)
    {
        Manifest = manifest;
        Profile = profile;
        Workloads = workloads;
        Backup = backup;
    }

    /// <summary>The manifest.</summary>
    public AspireManifest Manifest { get; }

    /// <summary>The profile.</summary>
    public DeploymentProfile Profile { get; }

    /// <summary>The workloads, in manifest order.</summary>
    public IReadOnlyList<Workload> Workloads { get; }

    /// <summary>The backup job the profile asks for, or <see langword="null"/>.</summary>
    public BackupJob? Backup { get; }

    /// <summary>The workload named <paramref name="name"/>.</summary>
    public Workload this[string name] => Workloads.Single(w => w.Name == name);

    /// <summary>The settings the workloads use, with their defaults, by name.</summary>
    public IReadOnlyDictionary<string, string> UsedSettings =>
        Workloads.SelectMany(w => w.Environment).SelectMany(v => v.Value.Parts).OfType<SettingPart>()
            .DistinctBy(s => s.Name).OrderBy(s => s.Name, StringComparer.Ordinal).ToDictionary(s => s.Name, s => s.Default);

    /// <summary>Whether <paramref name="workload"/> belongs on the internal network: it is not external, or it uses a workload that is not.</summary>
    public bool OnInternalNetwork(Workload workload)
    {
        ArgumentNullException.ThrowIfNull(workload);
        return !workload.IsExternal || workload.References.Any(r => !this[r].IsExternal);
    }

    /// <summary>Whether <paramref name="workload"/> belongs on the external network: it is external, or it calls the internet.</summary>
    public static bool OnExternalNetwork(Workload workload)
    {
        ArgumentNullException.ThrowIfNull(workload);
        return workload.IsExternal || workload.InternetEgress;
    }

    /// <summary>Builds the plan.</summary>
    /// <exception cref="PublishingException">An expression, a profile entry or a Dockerfile does not fit.</exception>
    public static DeploymentPlan Create(AspireManifest manifest, DeploymentProfile profile)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(profile);
        foreach (var name in profile.Resources.Keys)
        {
            if (manifest.Find(name) is not WorkloadResource)
            {
                throw new PublishingException($"The deployment profile configures '{name}', which is not a container, Dockerfile or project resource of {manifest.SourcePath}.");
            }
        }

        // A workload is reached under DnsName.Slug of its name (Compose service, Kubernetes objects, host names): two
        // names with one slug would silently become one service.
        if (manifest.Workloads.GroupBy(w => DnsName.Slug(w.Name)).FirstOrDefault(g => g.Count() > 1) is { } clash)
        {
            throw new PublishingException(
                $"Resources {string.Join(" and ", clash.Select(w => $"'{w.Name}'"))} of {manifest.SourcePath} would share the name '{clash.Key}' " +
                "in the deployment (a DNS name: lower case, other characters than letters and digits as '-'). Rename one.");
        }

        var resolver = new ExpressionResolver(manifest);
        var drafts = manifest.Workloads.Select(w => WithDatabase(manifest, resolver, Draft(manifest, profile, resolver, w))).ToList();
        var byName = drafts.ToDictionary(d => d.Name, StringComparer.Ordinal);
        var workloads = drafts.Select(d => d with { Dependencies = Dependencies(profile, d, byName) }).ToList();
        var backup = profile.Backup is null ? null : CreateBackup(manifest, profile, resolver, workloads);
        return new DeploymentPlan(manifest, profile, workloads, backup);
    }

    private static Workload Draft(AspireManifest manifest, DeploymentProfile profile, ExpressionResolver resolver, WorkloadResource resource)
    {
        var settings = profile.For(resource.Name);
        var defaults = profile.Defaults;
        var where = $"resource '{resource.Name}'";

        var (image, known, dockerfile) = Image(manifest, profile, resource);

        // Environment: the manifest's, then the profile's overrides (which may use settings).
        var environment = new List<WorkloadVariable>();
        foreach (var (name, template) in resource.Environment)
        {
            environment.Add(new WorkloadVariable(name, resolver.Resolve(template, $"{where}, env '{name}'")));
        }
        foreach (var (name, template) in settings.Environment ?? [])
        {
            var value = Settings(profile, template, $"{where}, profile environment '{name}'");
            var index = environment.FindIndex(v => v.Name == name);
            if (index >= 0)
            {
                environment[index] = new WorkloadVariable(name, value);
            }
            else
            {
                environment.Add(new WorkloadVariable(name, value));
            }
        }

        var args = resource.Args?.Select((a, i) => resolver.Resolve(a, $"{where}, args[{i}]")).ToList();
        if (args?.FindIndex(a => a.IsSecret) is int secretArg and >= 0)
        {
            throw new PublishingException(
                $"{where}: args[{secretArg}] contains a secret parameter; a secret cannot be passed as an argument without exposing it. " +
                "Pass it in an environment variable instead.");
        }

        if (ShellExec.IsShell((resource as ContainerResource)?.Entrypoint))
        {
            args = ExecInShell(args, 0, where);
        }

        var references = new SortedSet<string>(
            environment.SelectMany(v => v.Value.References).Concat(args?.SelectMany(a => a.References) ?? []), StringComparer.Ordinal);
        if (resource.ConnectionString is not null)
        {
            references.UnionWith(resolver.Resolve(resource.ConnectionString, $"{where}, connectionString").References);
        }
        references.Remove(resource.Name);

        var entrypoint = (resource as ContainerResource)?.Entrypoint;
        IReadOnlyList<ResolvedValue>? command = settings.Command?.Select(ResolvedValue.Literal).ToList();
        if (command is null && entrypoint is not null)
        {
            command = [ResolvedValue.Literal(entrypoint), .. args ?? []];
        }
        else if (command is null)
        {
            var imageEntrypoint = dockerfile?.Entrypoint ?? known?.Entrypoint;
            var imageCmd = dockerfile is not null ? dockerfile.Cmd : known?.Cmd;
            if (resource is ProjectResource project)
            {
                // The image `dotnet publish /t:PublishContainer` makes runs the project's assembly.
                imageEntrypoint = ["dotnet", $"/app/{Path.GetFileNameWithoutExtension(project.Path)}.dll"];
            }
            IReadOnlyList<ResolvedValue>? runCmd = args ?? imageCmd?.Select(ResolvedValue.Literal).ToList();
            if (imageEntrypoint is not null || runCmd is not null)
            {
                command = [.. (imageEntrypoint ?? []).Select(ResolvedValue.Literal), .. runCmd ?? []];
            }
        }

        if (command is { Count: > 0 } && ShellExec.IsShell(command[0].LiteralText))
        {
            command = ExecInShell(command, 1, where);
        }

        var resolvedPorts = resolver.TargetPorts(resource);
        var ports = resource.Bindings.Select(b => new WorkloadPort(b.Name, b.Scheme, resolvedPorts[b.Name], b.Port ?? resolvedPorts[b.Name], b.External)).ToList();

        var (userId, groupId) = User(where, settings.User ?? known?.User ?? NumericUser(dockerfile?.User) ?? defaults.User ?? "10001:10001");

        var role = (settings.Role ?? defaults.Role ?? "service") switch
        {
            "service" => WorkloadRole.Service,
            "job" => WorkloadRole.Job,
            var other => throw new PublishingException($"{where}: profile role '{other}' is not 'service' or 'job'."),
        };

        var tmpfsSize = settings.TmpfsSize ?? defaults.TmpfsSize ?? DefaultTmpfsSize;
        var writable = new List<WritablePath>();
        foreach (var path in new[] { "/tmp" }.Concat(known?.WritablePaths ?? []).Concat(defaults.WritablePaths ?? []).Concat(settings.WritablePaths ?? []))
        {
            if (!writable.Any(w => w.Path == path))
            {
                writable.Add(new WritablePath(path, tmpfsSize, known?.PathModes.GetValueOrDefault(path) ?? DefaultTmpfsMode,
                    known?.ImageDirectories.GetValueOrDefault(path)));
            }
        }

        var firstPort = ports.FirstOrDefault()?.ContainerPort.ToString(CultureInfo.InvariantCulture) ?? "";
        var health = role == WorkloadRole.Job ? null : Health(settings.Health, defaults.Health, known, dockerfile, firstPort, where);

        var kubernetesEnvironment = new Dictionary<string, string>(known?.KubernetesEnvironment ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        foreach (var (name, value) in settings.Kubernetes?.Environment ?? [])
        {
            kubernetesEnvironment[name] = value;
        }

        return new Workload
        {
            Name = resource.Name,
            Resource = resource,
            Role = role,
            Image = image,
            Entrypoint = entrypoint,
            Args = args,
            Command = command,
            Environment = environment,
            KubernetesEnvironment = kubernetesEnvironment,
            FileEnvironment = new HashSet<string>((known?.FileEnvironment ?? []).Concat(settings.FileEnvironment ?? []), StringComparer.Ordinal),
            Ports = ports,
            Volumes = (resource as ContainerResource)?.Volumes ?? [],
            BindMounts = (resource as ContainerResource)?.BindMounts ?? [],
            UserId = userId,
            GroupId = groupId,
            WritablePaths = writable,
            StopSignal = known?.StopSignal,
            PreStop = known?.PreStop,
            Resources = Resources(settings.Resources, defaults.Resources),
            Health = health,
            Dependencies = [],
            References = references,
            InternetEgress = settings.InternetEgress ?? defaults.InternetEgress ?? false,
            Proxied = (settings.Exposure ?? defaults.Exposure ?? "direct") switch
            {
                "direct" => false,
                "proxied" => true,
                var other => throw new PublishingException($"{where}: profile exposure '{other}' is not 'direct' or 'proxied'."),
            },
            IngressNamespaces = settings.Kubernetes?.IngressNamespaces ?? [],
            Replicas = settings.Replicas ?? settings.Autoscale?.MinReplicas ?? 1,
            Autoscale = role == WorkloadRole.Service ? settings.Autoscale : null,
            Storage = settings.Storage ?? defaults.Storage ?? "1Gi",
            Restart = settings.Restart ?? (role == WorkloadRole.Job ? "no" : defaults.Restart ?? "unless-stopped"),
        };
    }

    private const string DefaultTmpfsSize = "64M";
    private const string DefaultTmpfsMode = "1777";

    private static (WorkloadImage Image, KnownImage? Known, DockerfileInfo? Dockerfile) Image(
        AspireManifest manifest, DeploymentProfile profile, WorkloadResource resource)
    {
        var imageName = $"{profile.Name}/{DnsName.Slug(resource.Name)}";
        switch (resource)
        {
            case ContainerResource { Build: { } build }:
                return Build(manifest.ResolvePath(build.Context), manifest.ResolvePath(build.Dockerfile), build.Args, imageName);
            case ContainerResource { Image: { } image }:
                return (new ImageReference(image), KnownImage.Find(image), null);
            case DockerfileResource dockerfile:
                return Build(manifest.ResolvePath(dockerfile.Context), manifest.ResolvePath(dockerfile.Path), dockerfile.BuildArgs, imageName);
            case ProjectResource project:
                return (new ProjectImage(manifest.ResolvePath(project.Path), imageName), null, null);
            default:
                throw new PublishingException($"resource '{resource.Name}' ({resource.Type}) has neither an image nor a build.");
        }
    }

    private static (WorkloadImage, KnownImage?, DockerfileInfo?) Build(
        string context, string dockerfile, IReadOnlyDictionary<string, string> args, string imageName)
    {
        // Without the Dockerfile (a manifest published elsewhere) the build is still described; only what would be read
        // from it (command, user, health check) is unknown, and is an error only where it is needed.
        return (new ImageBuild(context, dockerfile, args, imageName), null, DockerfileInfo.TryRead(dockerfile));
    }

    private static ResolvedValue Settings(DeploymentProfile profile, string template, string where)
    {
        var parts = new List<ValuePart>();
        var last = 0;
        foreach (Match match in SettingPattern().Matches(template))
        {
            parts.Add(new LiteralPart(template[last..match.Index]));
            var name = match.Groups["name"].Value;
            if (!profile.Settings.TryGetValue(name, out var defaultValue))
            {
                throw new PublishingException($"{where}: setting '{name}' is not declared under 'settings' in the deployment profile.");
            }
            parts.Add(new SettingPart(name, defaultValue));
            last = match.Index + match.Length;
        }
        parts.Add(new LiteralPart(template[last..]));
        return new ResolvedValue(parts, []);
    }

    [GeneratedRegex(@"\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex SettingPattern();

    private static string? NumericUser(string? user) => user switch
    {
        null => null,
        // Microsoft's .NET images: `USER $APP_UID` is their unprivileged `app` user.
        "$APP_UID" or "${APP_UID}" => "1654:1654",
        _ when NumericUserPattern().IsMatch(user) => user.Contains(':') ? user : $"{user}:{user}",
        _ => null,
    };

    [GeneratedRegex(@"^\d+(:\d+)?$")]
    private static partial Regex NumericUserPattern();

    private static (long, long) User(string where, string user)
    {
        var numeric = NumericUser(user)
            ?? throw new PublishingException($"{where}: user '{user}' must be numeric (uid or uid:gid) so that a non-root user can be enforced.");
        var parts = numeric.Split(':');
        var uid = long.Parse(parts[0], CultureInfo.InvariantCulture);
        var gid = long.Parse(parts[1], CultureInfo.InvariantCulture);
        if (uid == 0)
        {
            throw new PublishingException($"{where}: runs as root (uid 0); give it a non-root user in the deployment profile.");
        }
        return (uid, gid);
    }

    private static WorkloadResources Resources(ResourcesProfile? own, ResourcesProfile? defaults) => new(
        own?.Limits?.Memory ?? defaults?.Limits?.Memory ?? "512M",
        own?.Limits?.Cpus ?? defaults?.Limits?.Cpus ?? "0.5",
        own?.Reservations?.Memory ?? defaults?.Reservations?.Memory ?? "128M",
        own?.Reservations?.Cpus ?? defaults?.Reservations?.Cpus ?? "0.1");

    private static WorkloadHealth? Health(HealthProfile? own, HealthProfile? defaults, KnownImage? known, DockerfileInfo? dockerfile, string port, string where)
    {
        IReadOnlyList<string>? command = own?.Command ?? known?.HealthCommand.Select(a => a.Replace(KnownImage.PortPlaceholder, port, StringComparison.Ordinal)).ToList();
        IReadOnlyList<string>? composeTest = command is not null ? ["CMD", .. command] : dockerfile?.HealthcheckTest;
        if (command is null && dockerfile?.HealthcheckTest is { Count: > 1 } test)
        {
            var rest = test.Skip(1).ToList();
            command = test[0] == "CMD" ? rest : ["/bin/sh", "-c", string.Join(' ', rest)];
        }
        RefuseWhitespace(composeTest, where);
        RefuseWhitespace(command, where);
        var httpPath = own?.HttpPath;
        if (command is null && httpPath is null)
        {
            return null;
        }
        var options = dockerfile?.HealthcheckOptions ?? new Dictionary<string, string>();
        return new WorkloadHealth(
            httpPath,
            command,
            composeTest,
            own?.IntervalSeconds ?? Seconds(options.GetValueOrDefault("interval")) ?? defaults?.IntervalSeconds ?? 10,
            own?.TimeoutSeconds ?? Seconds(options.GetValueOrDefault("timeout")) ?? defaults?.TimeoutSeconds ?? 5,
            own?.Retries ?? (options.TryGetValue("retries", out var r) ? int.Parse(r, CultureInfo.InvariantCulture) : (int?)null) ?? defaults?.Retries ?? 5,
            own?.StartPeriodSeconds ?? Seconds(options.GetValueOrDefault("start-period")) ?? defaults?.StartPeriodSeconds ?? 10);
    }

    // Podman's Docker-compatible API splits a healthcheck argument with spaces into words (Docker keeps it whole), so
    // such a check fails there for ever and nothing that waits for the service starts.
    private static void RefuseWhitespace(IReadOnlyList<string>? test, string where)
    {
        if (test?.Skip(test[0] is "CMD" or "CMD-SHELL" ? 1 : 0).FirstOrDefault(a => a.Any(char.IsWhiteSpace)) is { } argument)
        {
            var shown = argument.Length > 60 ? argument[..60] + "…" : argument;
            throw new PublishingException(
                $"{where}: health check argument \"{shown}\" contains whitespace, which podman's Docker API splits into words. " +
                "Put the check in a script or module in the image and run it as plain words (HEALTHCHECK CMD [\"python3\", \"-m\", \"app.healthcheck\"]).");
        }
    }

    private static List<ResolvedValue>? ExecInShell(IReadOnlyList<ResolvedValue>? argv, int dashC, string where)
    {
        if (argv is null || argv.Count <= dashC + 1 || argv[dashC].LiteralText != "-c" || argv[dashC + 1].LiteralText is not { } script)
        {
            return argv?.ToList();
        }
        var result = argv.ToList();
        result[dashC + 1] = ResolvedValue.Literal(ShellExec.Ensure(script, where));
        return result;
    }

    /// <summary>
    /// A PostgreSQL server with POSTGRES_DB: the database the manifest's database resource names (Aspire's AddDatabase
    /// is only a connection string), created by the image on an empty volume. The migration worker creates it otherwise.
    /// </summary>
    private static Workload WithDatabase(AspireManifest manifest, ExpressionResolver resolver, Workload workload)
    {
        if (workload.Image is not ImageReference { Image: var image } || !KnownImage.IsPostgres(image) ||
            workload.Environment.Any(v => v.Name == "POSTGRES_DB"))
        {
            return workload;
        }
        var databases = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var resource in manifest.Resources.OfType<ValueResource>())
        {
            var value = resolver.Resolve(resource.ConnectionString, $"resource '{resource.Name}'");
            if (!value.References.SetEquals([workload.Name]) || !value.Parts.Any(p => p is LiteralPart { Text: var t } && t.Contains("Database=", StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }
            if (ConnectionString(value, $"resource '{resource.Name}'").Pairs.GetValueOrDefault("Database")?.LiteralText is { Length: > 0 } name)
            {
                databases.Add(name);
            }
        }
        return databases.Count == 1 && databases.Min is { } database
            ? workload with { Environment = [.. workload.Environment, new WorkloadVariable("POSTGRES_DB", ResolvedValue.Literal(database))] }
            : workload;
    }

    private static int? Seconds(string? duration)
    {
        if (duration is null)
        {
            return null;
        }
        var match = DurationPattern().Match(duration);
        if (!match.Success)
        {
            return null;
        }
        var number = int.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture);
        return match.Groups["unit"].Value switch
        {
            "ms" => Math.Max(1, number / 1000),
            "m" => number * 60,
            "h" => number * 3600,
            _ => number,
        };
    }

    [GeneratedRegex(@"^(?<n>\d+)(?<unit>ms|s|m|h)?$")]
    private static partial Regex DurationPattern();

    private static List<WorkloadDependency> Dependencies(DeploymentProfile profile, Workload workload, Dictionary<string, Workload> all)
    {
        var dependencies = new Dictionary<string, DependencyCondition>(StringComparer.Ordinal);
        foreach (var reference in workload.References)
        {
            var target = all[reference];
            dependencies[reference] = target.Role == WorkloadRole.Job ? DependencyCondition.Completed
                : target.Health?.ComposeTest is not null ? DependencyCondition.Healthy
                : DependencyCondition.Started;
        }
        foreach (var (target, condition) in profile.For(workload.Name).DependsOn ?? [])
        {
            if (!all.ContainsKey(target))
            {
                throw new PublishingException($"resource '{workload.Name}': the profile makes it depend on '{target}', which is not a workload of the manifest.");
            }
            dependencies[target] = condition switch
            {
                "started" => DependencyCondition.Started,
                "healthy" => DependencyCondition.Healthy,
                "completed" => DependencyCondition.Completed,
                _ => throw new PublishingException($"resource '{workload.Name}': dependency condition '{condition}' is not started, healthy or completed."),
            };
        }
        return [.. dependencies.OrderBy(d => d.Key, StringComparer.Ordinal).Select(d => new WorkloadDependency(d.Key, d.Value))];
    }
}
