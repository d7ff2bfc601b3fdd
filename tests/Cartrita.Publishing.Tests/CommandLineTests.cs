namespace Cartrita.Publishing.Tests;

/// <summary>The command line on bad input: a clear message, a non-zero exit, and no partial output.</summary>
public sealed class CommandLineTests : IDisposable
{
    private readonly string _directory = Repo.TempDirectory();

    private (int Exit, string Stdout, string Stderr) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = CommandLine.Run(args, stdout, stderr, new Dictionary<string, string>());
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private string Manifest(string json)
    {
        var path = Path.Combine(_directory, "aspire-manifest.json");
        File.WriteAllText(path, json);
        return path;
    }

    private string[] Targets(string command, string manifest) =>
        [command, "--manifest", manifest, "--profile", "none",
         "--compose-out", Path.Combine(_directory, "compose"), "--k8s-out", Path.Combine(_directory, "k8s")];

    [Fact]
    public void A_missing_manifest()
    {
        var (exit, _, stderr) = Run(Targets("all", Path.Combine(_directory, "nope.json")));

        Assert.Equal(1, exit);
        Assert.Contains("cartrita-publish: error: Manifest not found", stderr);
        AssertNoOutput();
    }

    [Fact]
    public void Malformed_json()
    {
        var (exit, _, stderr) = Run(Targets("compose", Manifest("{\n  \"resources\": {\n    \"a\": { \"type\": \"container.v0\" \"image\": \"x\" }\n  }\n}\n")));

        Assert.Equal(1, exit);
        Assert.Matches(@"aspire-manifest\.json:3:\d+: malformed JSON", stderr);
        AssertNoOutput();
    }

    [Fact]
    public void An_unsupported_resource_type()
    {
        var (exit, _, stderr) = Run(Targets("k8s", Manifest("""
            { "resources": {
                "ok": { "type": "container.v0", "image": "nginx" },
                "bicep": { "type": "azure.bicep.v0", "path": "main.bicep" } } }
            """)));

        Assert.Equal(1, exit);
        Assert.Contains("resource 'bicep' has type 'azure.bicep.v0'", stderr);
        Assert.Matches(@"aspire-manifest\.json:3:\d+:", stderr);
        AssertNoOutput();
    }

    [Fact]
    public void An_unknown_reference()
    {
        var (exit, _, stderr) = Run(Targets("all", Manifest("""
            { "resources": { "web": { "type": "container.v0", "image": "nginx", "env": { "API": "{api.bindings.http.url}" } } } }
            """)));

        Assert.Equal(1, exit);
        Assert.Contains("resource 'web', env 'API': unknown resource 'api' in expression '{api.bindings.http.url}'", stderr);
        AssertNoOutput();
    }

    [Fact]
    public void A_failed_publish_leaves_earlier_output_alone()
    {
        var good = Manifest("""{ "resources": { "web": { "type": "container.v0", "image": "nginx" } } }""");
        Assert.Equal(0, Run(Targets("all", good)).Exit);
        var before = Snapshot();

        Manifest("""{ "resources": { "web": { "type": "container.v0", "image": "nginx", "env": { "X": "{nope.value}" } } } }""");
        Assert.Equal(1, Run(Targets("all", good)).Exit);

        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public void Publishing_twice_changes_nothing()
    {
        var manifest = Manifest("""
            { "resources": {
                "pw": { "type": "parameter.v0", "value": "{pw.inputs.value}",
                        "inputs": { "value": { "type": "string", "secret": true, "default": { "generate": { "minLength": 24 } } } } },
                "db": { "type": "container.v0", "image": "postgres:17", "env": { "POSTGRES_PASSWORD": "{pw.value}" },
                        "bindings": { "tcp": { "scheme": "tcp", "protocol": "tcp", "transport": "tcp", "targetPort": 5432 } } } } }
            """);
        Assert.Equal(0, Run(Targets("all", manifest)).Exit);
        var first = Snapshot();

        Assert.Equal(0, Run(Targets("all", manifest)).Exit);

        // The generated password is kept, so a database initialized with it still accepts it.
        Assert.Equal(first, Snapshot());
    }

    [Theory]
    [InlineData]
    [InlineData("deploy")]
    [InlineData("compose", "--output")]
    [InlineData("compose", "--manifest")]
    public void Bad_usage_exits_2_with_the_usage(params string[] args)
    {
        var (exit, _, stderr) = Run(args);

        Assert.Equal(2, exit);
        Assert.Contains("usage: cartrita-publish", stderr);
    }

    private void AssertNoOutput()
    {
        Assert.False(Directory.Exists(Path.Combine(_directory, "compose")), "compose output was written");
        Assert.False(Directory.Exists(Path.Combine(_directory, "k8s")), "k8s output was written");
    }

    private SortedDictionary<string, string> Snapshot() => new(
        Directory.EnumerateFiles(_directory, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f) != "aspire-manifest.json")
            .ToDictionary(f => Path.GetRelativePath(_directory, f), File.ReadAllText), StringComparer.Ordinal);

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
