using System.Diagnostics;
using Cartrita.Publishing.Compose;
using Cartrita.Publishing.Deployment;
using Cartrita.Publishing.Kubernetes;
using Cartrita.Publishing.Manifest;

namespace Cartrita.Publishing;

/// <summary>The command line: <c>compose</c>, <c>k8s</c> or <c>all</c>, with the manifest, profile and output folders.</summary>
public static class CommandLine
{
    private const string Usage = """
        usage: cartrita-publish <compose|k8s|all> [options]

          compose   write docker-compose.prod.yml, docker-compose.yml (data stores only), .env.example and secrets/
                    (and backup.sh for the backup service, when the profile has a backup section)
          k8s       write a kustomization (namespace, configmaps, workloads, services, HPAs, network policies) and secrets/
                    (and a backup CronJob with backup.sh, when the profile has a backup section)
          all       both

        options:
          --manifest FILE      the Aspire manifest (default: aspire-manifest.json)
          --profile FILE       the deployment profile (default: deploy/publish-profile.yaml when it exists; 'none' for none)
          --compose-out DIR    Compose output folder (default: deploy/compose)
          --k8s-out DIR        Kubernetes output folder (default: deploy/k8s)

        Parameter values come from the environment (NAME or Parameters__name), then the output folder's .env,
        then earlier generated values in its secrets/; secret values are written only to secrets/ (git-ignored).
        """;

    /// <summary>Runs the command line; returns the exit code (0 done, 1 bad input, 2 bad usage).</summary>
    public static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, IReadOnlyDictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        ArgumentNullException.ThrowIfNull(environment);
        if (args.Count == 0 || args[0] is "-h" or "--help" or "help")
        {
            (args.Count == 0 ? stderr : stdout).Write(Usage);
            return args.Count == 0 ? 2 : 0;
        }

        var command = args[0];
        if (command is not ("compose" or "k8s" or "all"))
        {
            stderr.WriteLine($"cartrita-publish: unknown command '{command}'.");
            stderr.Write(Usage);
            return 2;
        }

        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i < args.Count; i++)
        {
            if (args[i] is not ("--manifest" or "--profile" or "--compose-out" or "--k8s-out") || i + 1 >= args.Count)
            {
                stderr.WriteLine($"cartrita-publish: unexpected argument '{args[i]}'.");
                stderr.Write(Usage);
                return 2;
            }
            options[args[i]] = args[++i];
        }

        try
        {
            var stopwatch = Stopwatch.StartNew();
            var manifestPath = options.GetValueOrDefault("--manifest") ?? "aspire-manifest.json";
            var profilePath = options.GetValueOrDefault("--profile") ?? (File.Exists("deploy/publish-profile.yaml") ? "deploy/publish-profile.yaml" : "none");
            var publisher = new Publisher(manifestPath, profilePath == "none" ? null : profilePath, environment);

            // Everything is produced in memory first: bad input leaves no partial output behind.
            var outputs = new List<PublishOutput>();
            if (command is "compose" or "all")
            {
                outputs.Add(publisher.Compose(options.GetValueOrDefault("--compose-out") ?? "deploy/compose"));
            }
            if (command is "k8s" or "all")
            {
                outputs.Add(publisher.Kubernetes(options.GetValueOrDefault("--k8s-out") ?? "deploy/k8s"));
            }
            foreach (var output in outputs)
            {
                output.Write();
                stdout.WriteLine($"cartrita-publish: wrote {output.Files.Count} files and {output.SecretFiles.Count} secret files to {Path.GetRelativePath(Environment.CurrentDirectory, output.Directory)}");
            }
            stdout.WriteLine($"cartrita-publish: done in {stopwatch.Elapsed.TotalSeconds:0.00} s");
            return 0;
        }
        catch (PublishingException e)
        {
            stderr.WriteLine($"cartrita-publish: error: {e.Message}");
            return 1;
        }
    }
}

/// <summary>Reads the manifest and profile once and produces the outputs of each target.</summary>
public sealed class Publisher
{
    private readonly AspireManifest _manifest;
    private readonly DeploymentProfile _profile;
    private readonly DeploymentPlan _plan;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly string[] _sources;

    private readonly bool _useDeploymentInputs;

    /// <summary>Reads <paramref name="manifestPath"/> and, when given, <paramref name="profilePath"/>.</summary>
    /// <param name="manifestPath">The Aspire manifest.</param>
    /// <param name="profilePath">The deployment profile, or <see langword="null"/> for none.</param>
    /// <param name="environment">Where parameter values are looked up first.</param>
    /// <param name="useDeploymentInputs">
    /// Whether the output folder's <c>.env</c> and earlier secrets are read too (the command line does; a test that compares
    /// with the committed files does not, so that a developer's local deployment cannot change the result).
    /// </param>
    /// <exception cref="PublishingException">Either is missing or invalid.</exception>
    public Publisher(string manifestPath, string? profilePath, IReadOnlyDictionary<string, string> environment, bool useDeploymentInputs = true)
    {
        ArgumentNullException.ThrowIfNull(manifestPath);
        ArgumentNullException.ThrowIfNull(environment);
        _useDeploymentInputs = useDeploymentInputs;
        _manifest = ManifestReader.Read(manifestPath);
        _profile = profilePath is null ? DeploymentProfile.Empty(DefaultName(_manifest)) : DeploymentProfile.Load(profilePath);
        _plan = DeploymentPlan.Create(_manifest, _profile);
        _environment = environment;
        _sources = profilePath is null ? [Path.GetFileName(manifestPath)] : [Path.GetFileName(manifestPath), Path.GetFileName(profilePath)];
    }

    /// <summary>The deployment plan.</summary>
    public DeploymentPlan Plan => _plan;

    /// <summary>The Compose files for <paramref name="outputDirectory"/>.</summary>
    public PublishOutput Compose(string outputDirectory)
    {
        ArgumentNullException.ThrowIfNull(outputDirectory);
        var values = Values(outputDirectory);
        return KeepSecrets(values, new ComposePublisher(_plan, values).Publish(outputDirectory, _sources));
    }

    /// <summary>The Kubernetes files for <paramref name="outputDirectory"/>.</summary>
    public PublishOutput Kubernetes(string outputDirectory)
    {
        ArgumentNullException.ThrowIfNull(outputDirectory);
        var values = Values(outputDirectory);
        return KeepSecrets(values, new KubernetesPublisher(_plan, values).Publish(outputDirectory, _sources));
    }

    // Secret parameter values that were generated or came from the environment are kept in secrets/, so the next publish
    // reuses them (a database initialized with a password keeps it).
    private static PublishOutput KeepSecrets(ParameterValues values, PublishOutput output)
    {
        foreach (var (parameter, value) in values.SecretsToStore)
        {
            output.SecretFiles[$"secrets/{ParameterValues.SecretFileName(parameter)}"] = value;
        }
        return output;
    }

    private ParameterValues Values(string outputDirectory) => _useDeploymentInputs
        ? new(_manifest, _profile, _environment, Path.Combine(outputDirectory, ".env"), Path.Combine(outputDirectory, "secrets"))
        : new(_manifest, _profile, _environment, dotEnvPath: null, storedSecretsDirectory: null);

    private static string DefaultName(AspireManifest manifest)
    {
        // An application name for images and networks: the AppHost folder's name without ".AppHost".
        var folder = Path.GetFileName(manifest.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        return DnsName.Slug(folder.Replace(".apphost", "", StringComparison.OrdinalIgnoreCase), whenEmpty: "app");
    }
}
