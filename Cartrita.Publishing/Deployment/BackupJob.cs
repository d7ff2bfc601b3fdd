using System.Globalization;
using Cartrita.Publishing.Manifest;

namespace Cartrita.Publishing.Deployment;

/// <summary>
/// The scheduled backup of one PostgreSQL database, as <c>./cartrita backup</c> does it locally: <c>pg_dump</c> into
/// <c>&lt;database&gt;_YYYYMMDD_HHMMSS.sql.gz</c> files on a volume of their own, written under a temporary name and renamed
/// when complete, keeping the newest N. It runs <see cref="Script"/> in the database server's own image (whose
/// <c>pg_dump</c> matches the server's major version) as that image's non-root user, hardened like every workload:
/// Compose writes it as a service under a Compose profile, Kubernetes as a CronJob with a PersistentVolumeClaim.
/// </summary>
/// <param name="Workload">
/// The job as a workload (image, user, environment, volume, limits, dependency on the server), so that the publishers
/// harden it exactly like the others. Its password variable (<see cref="PasswordVariable"/>) is the server's secret
/// parameter: a Docker secret file in Compose, the server's own Secret in Kubernetes.
/// </param>
/// <param name="Server">The database server's workload.</param>
/// <param name="Database">The database name.</param>
/// <param name="Schedule">The Kubernetes CronJob schedule.</param>
/// <param name="Storage">The size of the Kubernetes claim for the backups.</param>
public sealed record BackupJob(Workload Workload, Workload Server, string Database, string Schedule, string Storage)
{
    /// <summary>The script's file name, next to the Compose file and in the kustomization (a ConfigMap).</summary>
    public const string ScriptFile = "backup.sh";

    /// <summary>Where the script is mounted in the container.</summary>
    public const string ScriptDirectory = "/opt/backup";

    /// <summary>The environment variable holding the password (Compose: <c>BACKUP_PASSWORD_FILE</c>, a secret file).</summary>
    public const string PasswordVariable = "BACKUP_PASSWORD";

    /// <summary>The environment variable with the number of backups to keep (also the Compose setting in <c>.env</c>).</summary>
    public const string KeepVariable = "BACKUP_KEEP";

    /// <summary>
    /// Where the backups are written in the container when the server has no data volume: the PostgreSQL images' home
    /// directory, which their user owns in every version.
    /// </summary>
    public const string FallbackDirectory = "/var/lib/postgresql";

    /// <summary>The script in the container.</summary>
    public static string ScriptPath => $"{ScriptDirectory}/{ScriptFile}";

    /// <summary>The container's command (<c>sh backup.sh</c>); <see cref="Arguments"/> or <c>list</c> / <c>restore FILE</c> follow.</summary>
    public static IReadOnlyList<string> Entrypoint => ["/bin/sh", ScriptPath];

    /// <summary>The arguments of a scheduled run.</summary>
    public static IReadOnlyList<string> Arguments => ["backup"];

    /// <summary>The backup script (POSIX sh): <c>backup</c>, <c>list</c>, <c>restore FILE</c>.</summary>
    public static string Script { get; } = ReadScript();

    /// <summary>The named volume (Compose) and claim (Kubernetes) the backups are kept on.</summary>
    public Volume Volume => Workload.Volumes[0];

    /// <summary>
    /// Where the backups are written in the container: where the server mounts its own data volume
    /// (<c>/var/lib/postgresql/data</c>, the image's <c>VOLUME</c> up to PostgreSQL 17). A new Docker volume takes the owner
    /// of the image directory it is mounted over, and the image's non-root user owns that one (the server writes there);
    /// at a path the image lacks, such as <c>/backups</c>, the volume would be root's and not writable. Mounting the backup
    /// volume over the image's <c>VOLUME</c> also keeps Docker from adding an anonymous volume for it.
    /// </summary>
    public string Directory => Volume.Target;

    private static string ReadScript()
    {
        using var stream = typeof(BackupJob).Assembly.GetManifestResourceStream($"Cartrita.Publishing.{ScriptFile}")
            ?? throw new InvalidOperationException($"{ScriptFile} is not embedded in {typeof(BackupJob).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().ReplaceLineEndings("\n");
    }
}

public sealed partial class DeploymentPlan
{
    private static BackupJob CreateBackup(AspireManifest manifest, DeploymentProfile profile, ExpressionResolver resolver, IReadOnlyList<Workload> workloads)
    {
        var settings = profile.Backup!;
        const string where = "deployment profile, backup";
        var databaseResource = settings.Database
            ?? throw new PublishingException($"{where}: 'database' is required: the manifest resource of the database to back up.");
        if (manifest.Find(databaseResource) is null)
        {
            throw new PublishingException($"{where}: database '{databaseResource}' is not a resource of {manifest.SourcePath}.");
        }

        // The database resource's connection string says everything: server, port, user, password and database name.
        var connection = ConnectionString(resolver.Resolve($"{{{databaseResource}.connectionString}}", $"{where}, database '{databaseResource}'"), where);
        var server = connection.Value.References.Count == 1
            ? workloads.Single(w => w.Name == connection.Value.References.Single())
            : throw new PublishingException($"{where}: the connection string of '{databaseResource}' must name exactly one server resource.");
        if (server.Image is not ImageReference { Image: var image } || !KnownImage.IsPostgres(image))
        {
            throw new PublishingException(
                $"{where}: '{server.Name}' does not run a known PostgreSQL image (postgres, pgvector/pgvector), so its image is not known to have pg_dump.");
        }

        string Literal(string key, string? fallback = null)
        {
            if (!connection.Pairs.TryGetValue(key, out var value))
            {
                return fallback ?? throw new PublishingException($"{where}: the connection string of '{databaseResource}' has no {key}.");
            }
            return value.LiteralText ?? throw new PublishingException($"{where}: the {key} of '{databaseResource}' is not a fixed value.");
        }
        var database = Literal("Database");
        var host = Literal("Host");
        var port = Literal("Port", "5432");
        ResolvedValue user, password;
        if (settings.User is { Length: > 0 } role)
        {
            // A role of its own (the database's owner): the job never holds the connection string's (the superuser's) password.
            var parameter = settings.PasswordParameter
                ?? throw new PublishingException($"{where}: 'user' needs 'passwordParameter', the secret parameter holding that role's password.");
            user = ResolvedValue.Literal(role);
            password = manifest.Find(parameter) is ParameterResource
                ? resolver.Resolve($"{{{parameter}.value}}", $"{where}, passwordParameter")
                : throw new PublishingException($"{where}: passwordParameter '{parameter}' is not a parameter of {manifest.SourcePath}.");
            if (password.SingleParameter is not { Secret: true })
            {
                throw new PublishingException($"{where}: passwordParameter '{parameter}' must be a secret parameter.");
            }
        }
        else
        {
            user = connection.Pairs.GetValueOrDefault("Username")
                ?? throw new PublishingException($"{where}: the connection string of '{databaseResource}' has no Username.");
            if (user.IsSecret)
            {
                throw new PublishingException($"{where}: the Username of '{databaseResource}' is a secret; the backup job passes it in the environment.");
            }
            password = connection.Pairs.GetValueOrDefault("Password") is { SingleParameter.Secret: true } secret
                ? secret
                : throw new PublishingException($"{where}: the Password of '{databaseResource}' must be one secret parameter (it is read from that parameter's secret).");
        }

        var name = settings.Name ?? "backup";
        if (workloads.Any(w => w.ServiceName == DnsName.Slug(name)))
        {
            throw new PublishingException($"{where}: name '{name}' is already a resource of the manifest; choose another 'name'.");
        }
        var directory = server.Volumes.FirstOrDefault()?.Target ?? BackupJob.FallbackDirectory;
        var keep = settings.Keep ?? 7;
        if (keep < 1)
        {
            throw new PublishingException($"{where}: keep must be at least 1.");
        }

        var workload = new Workload
        {
            Name = name,
            Resource = server.Resource,
            Role = WorkloadRole.Job,
            Image = server.Image,
            Command = [.. BackupJob.Entrypoint.Concat(BackupJob.Arguments).Select(ResolvedValue.Literal)],
            Environment =
            [
                new("PGHOST", ResolvedValue.Literal(host)),
                new("PGPORT", ResolvedValue.Literal(port)),
                new("PGUSER", user),
                new("PGDATABASE", ResolvedValue.Literal(database)),
                new("BACKUP_DIR", ResolvedValue.Literal(directory)),
                new(BackupJob.KeepVariable, new ResolvedValue([new SettingPart(BackupJob.KeepVariable, keep.ToString(CultureInfo.InvariantCulture))], [])),
                new(BackupJob.PasswordVariable, password),
            ],
            KubernetesEnvironment = new Dictionary<string, string>(),
            FileEnvironment = new HashSet<string>(StringComparer.Ordinal) { BackupJob.PasswordVariable },
            Ports = [],
            Volumes = [new Volume(settings.Volume ?? $"{profile.Name}-backups", directory, ReadOnly: false)],
            BindMounts = [],
            UserId = server.UserId,
            GroupId = server.GroupId,
            WritablePaths = [.. server.WritablePaths.Where(p => p.Path == "/tmp")],
            Resources = Resources(settings.Resources, profile.Defaults.Resources),
            Dependencies = [new WorkloadDependency(server.Name, server.Health?.ComposeTest is not null ? DependencyCondition.Healthy : DependencyCondition.Started)],
            References = new SortedSet<string>(StringComparer.Ordinal) { server.Name },
            Restart = "no",
        };
        return new BackupJob(workload, server, database, settings.Schedule ?? "0 3 * * *", settings.Storage ?? server.Storage);
    }

    /// <summary>
    /// Splits a resolved connection string (<c>Host=…;Port=…;Username=…;Password=…;Database=…</c>) into its values by
    /// key, with Npgsql's common aliases folded into Host, Username and Database.
    /// </summary>
    private static (ResolvedValue Value, Dictionary<string, ResolvedValue> Pairs) ConnectionString(ResolvedValue value, string where)
    {
        var pairs = new Dictionary<string, ResolvedValue>(StringComparer.OrdinalIgnoreCase);
        var segment = new List<ValuePart>();
        void Flush()
        {
            var parts = new ResolvedValue(segment, []).Parts;
            segment.Clear();
            if (parts.IsEmpty || (parts is [LiteralPart { Text: var blank }] && string.IsNullOrWhiteSpace(blank)))
            {
                return;
            }
            var first = (parts[0] as LiteralPart)?.Text ?? "";
            var equals = first.IndexOf('=');
            if (equals < 0)
            {
                throw new PublishingException($"{where}: the connection string '{value}' has a part without 'key='.");
            }
            var key = first[..equals].Trim() switch
            {
                var k when k.Equals("Server", StringComparison.OrdinalIgnoreCase) => "Host",
                var k when k.Replace(" ", "", StringComparison.Ordinal) is { } compact &&
                    (compact.Equals("UserId", StringComparison.OrdinalIgnoreCase) || compact.Equals("User", StringComparison.OrdinalIgnoreCase) ||
                     compact.Equals("UserName", StringComparison.OrdinalIgnoreCase)) => "Username",
                var k when k.Equals("DB", StringComparison.OrdinalIgnoreCase) => "Database",
                var k => k,
            };
            pairs[key] = new ResolvedValue([new LiteralPart(first[(equals + 1)..]), .. parts.Skip(1)], []);
        }
        foreach (var part in value.Parts)
        {
            if (part is not LiteralPart literal)
            {
                segment.Add(part);
                continue;
            }
            var pieces = literal.Text.Split(';');
            for (var i = 0; i < pieces.Length; i++)
            {
                if (i > 0)
                {
                    Flush();
                }
                segment.Add(new LiteralPart(pieces[i]));
            }
        }
        Flush();
        return (value, pairs);
    }
}
