namespace Cartrita.Publishing.Manifest;

/// <summary>An Aspire deployment manifest (<c>aspire-manifest.json</c>): its resources, in file order.</summary>
/// <param name="SourcePath">The manifest file, for messages.</param>
/// <param name="BaseDirectory">The folder relative paths in the manifest are relative to (the manifest's folder).</param>
/// <param name="Resources">The resources, in the order the file lists them.</param>
public sealed record AspireManifest(string SourcePath, string BaseDirectory, IReadOnlyList<ManifestResource> Resources)
{
    private readonly Dictionary<string, ManifestResource> _byName = Resources.ToDictionary(r => r.Name, StringComparer.Ordinal);

    /// <summary>The resource named <paramref name="name"/>, or <see langword="null"/>.</summary>
    public ManifestResource? Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _byName.GetValueOrDefault(name);
    }

    /// <summary>The resources that run as containers (everything but parameters and values).</summary>
    public IEnumerable<WorkloadResource> Workloads => Resources.OfType<WorkloadResource>();

    /// <summary>The parameters.</summary>
    public IEnumerable<ParameterResource> Parameters => Resources.OfType<ParameterResource>();

    /// <summary>Makes a manifest-relative path absolute.</summary>
    public string ResolvePath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Path.GetFullPath(path, BaseDirectory);
    }
}

/// <summary>A resource of the manifest.</summary>
/// <param name="Name">The resource name (the key under <c>resources</c>).</param>
/// <param name="Type">The manifest type, such as <c>container.v0</c>.</param>
public abstract record ManifestResource(string Name, string Type);

/// <summary><c>parameter.v0</c>: a value supplied (or generated) at deployment time.</summary>
public sealed record ParameterResource(
    string Name,
    string Type,
    string Value,
    string? ConnectionString,
    IReadOnlyDictionary<string, ParameterInput> Inputs) : ManifestResource(Name, Type)
{
    /// <summary>Whether any input of the parameter is a secret.</summary>
    public bool IsSecret => Inputs.Values.Any(i => i.Secret);
}

/// <summary>An input of a parameter.</summary>
/// <param name="Type">The input type (always <c>string</c> today).</param>
/// <param name="Secret">Whether the value is a secret.</param>
/// <param name="Generate">How to generate a value when none is supplied, or <see langword="null"/>.</param>
public sealed record ParameterInput(string Type, bool Secret, GenerateOptions? Generate);

/// <summary>The <c>default.generate</c> rules of a parameter input.</summary>
public sealed record GenerateOptions(
    int MinLength,
    bool Lower = true,
    bool Upper = true,
    bool Numeric = true,
    bool Special = true,
    int MinLower = 0,
    int MinUpper = 0,
    int MinNumeric = 0,
    int MinSpecial = 0);

/// <summary><c>value.v0</c>: a string (usually a connection string) built from other resources.</summary>
public sealed record ValueResource(string Name, string Type, string ConnectionString) : ManifestResource(Name, Type);

/// <summary><c>annotated.string</c>: another value passed through a filter (Aspire writes these for URI-encoded parameters).</summary>
public sealed record AnnotatedStringResource(string Name, string Type, string Value, string? Filter) : ManifestResource(Name, Type);

/// <summary>A resource that runs: a container image, a container build, or a .NET project.</summary>
public abstract record WorkloadResource(
    string Name,
    string Type,
    IReadOnlyList<KeyValuePair<string, string>> Environment,
    IReadOnlyList<Binding> Bindings,
    IReadOnlyList<string>? Args,
    string? ConnectionString) : ManifestResource(Name, Type);

/// <summary><c>container.v0</c> / <c>container.v1</c>: an image, or (v1) a build.</summary>
public sealed record ContainerResource(
    string Name,
    string Type,
    string? Image,
    BuildSpec? Build,
    string? Entrypoint,
    IReadOnlyList<string>? Args,
    IReadOnlyList<KeyValuePair<string, string>> Environment,
    IReadOnlyList<Binding> Bindings,
    IReadOnlyList<Volume> Volumes,
    IReadOnlyList<BindMount> BindMounts,
    string? ConnectionString) : WorkloadResource(Name, Type, Environment, Bindings, Args, ConnectionString);

/// <summary><c>dockerfile.v0</c>: a container built from a Dockerfile.</summary>
public sealed record DockerfileResource(
    string Name,
    string Type,
    string Path,
    string Context,
    IReadOnlyDictionary<string, string> BuildArgs,
    IReadOnlyList<KeyValuePair<string, string>> Environment,
    IReadOnlyList<Binding> Bindings) : WorkloadResource(Name, Type, Environment, Bindings, null, null);

/// <summary><c>project.v0</c> / <c>project.v1</c>: a .NET project, deployed as the image <c>dotnet publish</c> makes of it.</summary>
public sealed record ProjectResource(
    string Name,
    string Type,
    string Path,
    IReadOnlyList<string>? Args,
    IReadOnlyList<KeyValuePair<string, string>> Environment,
    IReadOnlyList<Binding> Bindings) : WorkloadResource(Name, Type, Environment, Bindings, Args, null);

/// <summary>The build of a <c>container.v1</c>.</summary>
/// <param name="Context">The build context, relative to the manifest.</param>
/// <param name="Dockerfile">The Dockerfile, relative to the manifest.</param>
/// <param name="Args">Build arguments.</param>
public sealed record BuildSpec(string Context, string Dockerfile, IReadOnlyDictionary<string, string> Args);

/// <summary>A binding (endpoint) of a workload.</summary>
public sealed record Binding(string Name, string Scheme, string Protocol, string Transport, int? TargetPort, int? Port, bool External);

/// <summary>A named volume mounted into a container.</summary>
public sealed record Volume(string Name, string Target, bool ReadOnly);

/// <summary>A host path mounted into a container.</summary>
public sealed record BindMount(string Source, string Target, bool ReadOnly);
