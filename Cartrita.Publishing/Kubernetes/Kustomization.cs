using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Cartrita.Publishing.Kubernetes;

/// <summary>
/// A <c>kustomization.yaml</c> (kustomize's own config, not a Kubernetes API object, so not in k8s.Models): the resources,
/// the namespace, Secrets generated from git-ignored files, and the images to retag.
/// </summary>
public sealed class Kustomization
{
    /// <summary>The config API version.</summary>
    public string ApiVersion { get; set; } = "kustomize.config.k8s.io/v1beta1";

    /// <summary>The config kind.</summary>
    public string Kind { get; set; } = "Kustomization";

    /// <summary>The namespace every resource goes to.</summary>
    public string? Namespace { get; set; }

    /// <summary>The resource files.</summary>
    public List<string> Resources { get; set; } = [];

    /// <summary>ConfigMaps built from files at <c>kubectl kustomize</c> time (the backup script; named with a content hash).</summary>
    public List<KustomizeConfigMap>? ConfigMapGenerator { get; set; }

    /// <summary>Secrets built from files at <c>kubectl kustomize</c> time (their names get a content hash, so pods roll on change).</summary>
    public List<KustomizeSecret>? SecretGenerator { get; set; }

    /// <summary>Image overrides (<c>kustomize edit set image</c>).</summary>
    public List<KustomizeImage>? Images { get; set; }

    /// <summary>Serializes the kustomization.</summary>
    public string ToYaml() => new SerializerBuilder()
        .WithNamingConvention(CamelCaseNamingConvention.Instance)
        .ConfigureDefaultValuesHandling(DefaultValuesHandling.OmitNull | DefaultValuesHandling.OmitEmptyCollections)
        .WithQuotingNecessaryStrings(quoteYaml1_1Strings: true)
        .DisableAliases()
        .Build()
        .Serialize(this);
}

/// <summary>A generated ConfigMap.</summary>
public sealed class KustomizeConfigMap
{
    /// <summary>The ConfigMap's name (before the hash suffix).</summary>
    public string Name { get; set; } = "";

    /// <summary>The files; each file's name is its key.</summary>
    public List<string> Files { get; set; } = [];
}

/// <summary>A generated Secret.</summary>
public sealed class KustomizeSecret
{
    /// <summary>The Secret's name (before the hash suffix).</summary>
    public string Name { get; set; } = "";

    /// <summary>Entries <c>KEY=path</c>: the key is the environment variable, the file holds its value.</summary>
    public List<string> Files { get; set; } = [];
}

/// <summary>An image override.</summary>
public sealed class KustomizeImage
{
    /// <summary>The image name in the manifests.</summary>
    public string Name { get; set; } = "";

    /// <summary>The registry/repository to use instead.</summary>
    public string? NewName { get; set; }

    /// <summary>The tag.</summary>
    public string? NewTag { get; set; }
}
