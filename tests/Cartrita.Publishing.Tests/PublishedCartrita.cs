using Cartrita.Publishing.Deployment;
using YamlDotNet.RepresentationModel;

namespace Cartrita.Publishing.Tests;

/// <summary>
/// Cartrita's committed manifest published once for the whole collection: Compose and Kubernetes written to a temporary
/// folder (with the secrets a deployment would have), and the kustomize output.
/// </summary>
public sealed class PublishedCartrita : IDisposable
{
    /// <summary>The profile name and paths.</summary>
    public const string Profile = "deploy/publish-profile.yaml";

    public PublishedCartrita()
    {
        Directory = Repo.TempDirectory();
        Publisher = new Publisher(Repo.Path("aspire-manifest.json"), Repo.Path(Profile), new Dictionary<string, string>());
        Compose = Publisher.Compose(System.IO.Path.Combine(Directory, "compose"));
        Kubernetes = Publisher.Kubernetes(System.IO.Path.Combine(Directory, "k8s"));
        Compose.Write();
        Kubernetes.Write();
        ProductionCompose = Load(System.IO.Path.Combine(Compose.Directory, "docker-compose.prod.yml"));
        DevelopmentCompose = Load(System.IO.Path.Combine(Compose.Directory, "docker-compose.yml"));

        var kustomize = Repo.Kustomize(Kubernetes.Directory);
        KustomizeResult = kustomize;
        KustomizeOutput = kustomize.Stdout;
    }

    /// <summary>The temporary folder.</summary>
    public string Directory { get; }

    /// <summary>The publisher (plan included).</summary>
    public Publisher Publisher { get; }

    /// <summary>The Compose output.</summary>
    public PublishOutput Compose { get; }

    /// <summary>The Kubernetes output.</summary>
    public PublishOutput Kubernetes { get; }

    /// <summary>docker-compose.prod.yml, parsed.</summary>
    public YamlMappingNode ProductionCompose { get; }

    /// <summary>docker-compose.yml, parsed.</summary>
    public YamlMappingNode DevelopmentCompose { get; }

    /// <summary>The result of <c>kubectl kustomize</c>.</summary>
    public ProcessResult KustomizeResult { get; }

    /// <summary>The rendered Kubernetes documents.</summary>
    public string KustomizeOutput { get; }

    /// <summary>Every secret value the deployment has (the contents of both secrets folders), non-empty ones only.</summary>
    public IReadOnlyList<string> SecretValues =>
        [.. Compose.SecretFiles.Values.Concat(Kubernetes.SecretFiles.Values).Where(v => v.Length > 0).Distinct()];

    /// <summary>Parses a YAML file into its root mapping.</summary>
    public static YamlMappingNode Load(string path) => Parse(File.ReadAllText(path));

    /// <summary>Parses YAML text into its root mapping.</summary>
    public static YamlMappingNode Parse(string yaml)
    {
        var stream = new YamlStream();
        using var reader = new StringReader(yaml);
        stream.Load(reader);
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A temporary folder left behind is harmless.
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PublishedCartritaCollection : ICollectionFixture<PublishedCartrita>
{
    public const string Name = "published Cartrita";
}

/// <summary>Navigation helpers over YamlDotNet's representation model.</summary>
internal static class Yaml
{
    public static YamlMappingNode Map(this YamlNode node, string key) => (YamlMappingNode)((YamlMappingNode)node)[key];

    public static YamlMappingNode? MapOrNull(this YamlNode node, string key) =>
        ((YamlMappingNode)node).Children.TryGetValue(new YamlScalarNode(key), out var child) ? child as YamlMappingNode : null;

    public static string Scalar(this YamlNode node, string key) => ((YamlScalarNode)((YamlMappingNode)node)[key]).Value!;

    public static string? ScalarOrNull(this YamlNode node, string key) =>
        ((YamlMappingNode)node).Children.TryGetValue(new YamlScalarNode(key), out var child) ? ((YamlScalarNode)child).Value : null;

    public static List<string> Strings(this YamlNode node, string key) =>
        ((YamlMappingNode)node).Children.TryGetValue(new YamlScalarNode(key), out var child)
            ? [.. ((YamlSequenceNode)child).Children.Select(c => ((YamlScalarNode)c).Value!)]
            : [];

    public static IEnumerable<string> Keys(this YamlMappingNode node) => node.Children.Keys.Select(k => ((YamlScalarNode)k).Value!);

    public static bool Has(this YamlNode node, string key) => ((YamlMappingNode)node).Children.ContainsKey(new YamlScalarNode(key));

    /// <summary>The style a scalar was written in (to check that YAML 1.1 readers see strings).</summary>
    public static YamlDotNet.Core.ScalarStyle Style(this YamlNode node, string key) => ((YamlScalarNode)((YamlMappingNode)node)[key]).Style;
}
