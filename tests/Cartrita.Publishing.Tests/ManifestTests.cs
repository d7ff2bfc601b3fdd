using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace Cartrita.Publishing.Tests;

/// <summary>aspire-manifest.json: current, valid against Aspire's schema, deployable by azd, free of secrets.</summary>
public sealed class ManifestTests
{
    // Loaded once: JsonSchema.Net registers a schema under its $id globally and refuses to register it twice.
    private static readonly JsonSchema AspireSchema = JsonSchema.FromFile(Repo.TestData("schemas", "aspire-8.0.json"));

    private static readonly JsonObject Resources = JsonNode.Parse(File.ReadAllText(Repo.Path("aspire-manifest.json")))!["resources"]!.AsObject();

    [Fact]
    public void Committed_manifest_is_what_the_AppHost_publishes_now()
    {
        var committed = File.ReadAllText(Repo.Path("aspire-manifest.json")).Replace("\r\n", "\n");
        var regenerated = Repo.GenerateManifest().Replace("\r\n", "\n");

        Assert.True(committed == regenerated,
            "aspire-manifest.json is stale: run `./cartrita publish manifest` (eng/publish.sh manifest) and commit the result.");
    }

    public static TheoryData<string> Manifests => new()
    {
        "aspire-manifest.json",
        "tests/Cartrita.Publishing.Tests/TestData/manifests/TestShop/aspire-manifest.json",
        "tests/Cartrita.Publishing.Tests/TestData/manifests/AspireWithJavaScript/aspire-manifest.json",
        // Not AspireWithNode: Aspire 13 gives its Redis binding the scheme "redis", which the schema rejects (see below).
    };

    [Theory]
    [MemberData(nameof(Manifests))]
    public void Manifest_is_valid_against_Aspires_manifest_schema(string manifest)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Repo.Path(manifest)));

        var result = AspireSchema.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });

        Assert.True(result.IsValid, string.Join("\n", (result.Details ?? []).Where(d => d.Errors is not null)
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"))));
    }

    [Fact]
    public void The_schema_rejects_the_redis_scheme_Aspire_13_writes()
    {
        // The schema test above means something only if the schema can fail. Aspire 13 writes Redis bindings with the
        // scheme "redis" (as in the AspireWithNode playground manifest); the AppHost publishes ours as "tcp" instead.
        using var playground = JsonDocument.Parse(File.ReadAllText(Repo.TestData("manifests", "AspireWithNode", "aspire-manifest.json")));
        Assert.False(AspireSchema.Evaluate(playground.RootElement).IsValid);

        using var fixedScheme = JsonDocument.Parse(File.ReadAllText(Repo.TestData("manifests", "AspireWithNode", "aspire-manifest.json"))
            .Replace("\"scheme\": \"redis\"", "\"scheme\": \"tcp\"", StringComparison.Ordinal));
        Assert.True(AspireSchema.Evaluate(fixedScheme.RootElement).IsValid);
        Assert.Equal("tcp", (string?)Resources["redis"]!["bindings"]!["tcp"]!["scheme"]);
    }

    [Fact]
    public void Data_stores_are_containers_and_services_are_Dockerfile_builds()
    {
        Assert.Equal("container.v0", Type("postgres"));
        Assert.Equal("docker.io/pgvector/pgvector:0.8.0-pg15", (string?)Resources["postgres"]!["image"]);
        Assert.Equal("container.v0", Type("redis"));
        Assert.Equal("docker.io/library/redis:7.0.15", (string?)Resources["redis"]!["image"]);

        Assert.Equal(("dockerfile.v0", "Cartrita.MigrationService/Dockerfile", "."), Build("migrations"));
        Assert.Equal(("dockerfile.v0", "services/ai-orchestrator/Dockerfile", "services/ai-orchestrator"), Build("ai-orchestrator"));
        Assert.Equal(("dockerfile.v0", "frontend/Dockerfile", "frontend"), Build("frontend"));

        foreach (var dockerfile in new[] { "Cartrita.MigrationService/Dockerfile", "services/ai-orchestrator/Dockerfile", "frontend/Dockerfile" })
        {
            Assert.True(File.Exists(Repo.Path(dockerfile)), $"{dockerfile} is missing");
        }
    }

    [Fact]
    public void Nothing_azd_rejects_executables_and_projects()
    {
        var types = Resources.Select(r => (string)r.Value!["type"]!).ToHashSet();

        Assert.DoesNotContain("executable.v0", types);
        Assert.DoesNotContain(types, t => t.StartsWith("project.", StringComparison.Ordinal));
    }

    [Fact]
    public void Service_bindings_carry_their_container_ports()
    {
        Assert.Equal(8000, (int)Resources["ai-orchestrator"]!["bindings"]!["http"]!["targetPort"]!);
        Assert.Equal(3000, (int)Resources["frontend"]!["bindings"]!["http"]!["targetPort"]!);
        Assert.True((bool)Resources["ai-orchestrator"]!["bindings"]!["http"]!["external"]!);
        Assert.True((bool)Resources["frontend"]!["bindings"]!["http"]!["external"]!);
        Assert.Equal(5432, (int)Resources["postgres"]!["bindings"]!["tcp"]!["targetPort"]!);
        Assert.Equal(6379, (int)Resources["redis"]!["bindings"]!["tcp"]!["targetPort"]!);
    }

    [Fact]
    public void Secrets_are_secret_parameters_without_values()
    {
        string[] secrets = ["postgres-password", "redis-password", "jwt-secret", "cartrita-api-key", "openai-api-key", "anthropic-api-key", "deepgram-api-key"];
        foreach (var name in secrets)
        {
            var parameter = Resources[name]!;
            Assert.Equal("parameter.v0", (string?)parameter["type"]);
            Assert.Equal($"{{{name}.inputs.value}}", (string?)parameter["value"]);
            Assert.True((bool)parameter["inputs"]!["value"]!["secret"]!, $"{name} is not secret");
            // A default may only say how to generate a value, never carry one.
            if (parameter["inputs"]!["value"]!["default"] is JsonObject defaults)
            {
                Assert.Equal(["generate"], defaults.Select(d => d.Key));
            }
        }
        Assert.False(Resources["postgres-user"]!["inputs"]!["value"]!["secret"] is JsonValue secret && (bool)secret);
    }

    [Fact]
    public void The_frontend_listens_on_all_interfaces_in_its_container()
    {
        // Run mode serves on loopback; a container must not, and its Dockerfile says so (HOSTNAME=0.0.0.0).
        Assert.Null(Resources["frontend"]!["env"]!["HOSTNAME"]);
    }

    private static string Type(string resource) => (string)Resources[resource]!["type"]!;

    private static (string, string, string) Build(string resource) =>
        (Type(resource), (string)Resources[resource]!["path"]!, (string)Resources[resource]!["context"]!);
}
