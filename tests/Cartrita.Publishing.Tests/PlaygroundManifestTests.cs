using System.Text.Json.Nodes;
using Cartrita.Publishing.Compose;
using Cartrita.Publishing.Deployment;

namespace Cartrita.Publishing.Tests;

/// <summary>
/// The converter on other real Aspire manifests (dotnet/aspire's playground, kept in TestData/manifests; origins in its
/// README): without a profile they still publish to valid, hardened Compose and Kubernetes files.
/// </summary>
public sealed class PlaygroundManifestTests
{
    public static TheoryData<string, int> Manifests => new()
    {
        { "TestShop", 9 },
        { "AspireWithNode", 3 },
        { "AspireWithJavaScript", 5 },
    };

    [Theory]
    [MemberData(nameof(Manifests))]
    public void Publishes_valid_compose_and_kubernetes_files(string name, int workloads)
    {
        var (publisher, directory) = Publish(name);
        try
        {
            Assert.Equal(workloads, publisher.Plan.Workloads.Count);

            var compose = Path.Combine(directory, "compose", ComposePublisher.ProductionFile);
            var config = Repo.ComposeConfig(compose);
            Assert.True(config.ExitCode == 0, config.Output);
            var schema = Repo.ValidateComposeSchema(compose, Path.Combine(directory, "compose", ComposePublisher.DevelopmentFile));
            Assert.True(schema.ExitCode == 0, schema.Output);

            var services = PublishedCartrita.Load(compose).Map("services");
            foreach (var service in services.Keys())
            {
                var definition = services.Map(service);
                Assert.Equal("true", definition.Scalar("read_only"));
                Assert.Equal(["ALL"], definition.Strings("cap_drop"));
                Assert.Equal(["no-new-privileges:true"], definition.Strings("security_opt"));
                Assert.DoesNotMatch("^0(:|$)", definition.Scalar("user"));
                Assert.True(definition.Map("deploy").Map("resources").Has("limits"));
            }

            var kustomize = Repo.Kustomize(Path.Combine(directory, "k8s"));
            Assert.True(kustomize.ExitCode == 0, kustomize.Output);
            var models = Repo.ValidateKubernetes(kustomize.Stdout);
            Assert.True(models.ExitCode == 0, models.Output);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void TestShop_projects_get_their_connection_strings_from_secret_files()
    {
        var (publisher, directory) = Publish("TestShop");
        try
        {
            var services = PublishedCartrita.Load(Path.Combine(directory, "compose", ComposePublisher.ProductionFile)).Map("services");
            var catalog = services.Map("catalogdbapp");
            Assert.Equal("${TESTSHOP_REGISTRY:-testshop}/catalogdbapp:${TESTSHOP_TAG:-latest}", catalog.Scalar("image"));
            Assert.Equal(["dotnet", "/app/CatalogDb.dll"], catalog.Strings("command"));
            Assert.Matches("\"ConnectionStrings__catalogdb=Host=postgres;Port=5432;Username=postgres;Password=\\$\\$p0;Database=catalogdb\"", catalog.Strings("entrypoint")[2]);
            Assert.Equal("8080", catalog.Map("environment").Scalar("HTTP_PORTS"));
            Assert.Equal("service_healthy", catalog.Map("depends_on").Map("postgres").Scalar("condition"));

            // Known images run as their own non-root users, with health checks that need no secret.
            Assert.Equal("999:999", services.Map("messaging").Scalar("user"));
            Assert.Equal(["CMD", "rabbitmq-diagnostics", "-q", "ping"], services.Map("messaging").Map("healthcheck").Strings("test"));
            Assert.Equal(["--save", "60", "1"], services.Map("basketcache").Strings("command"));

            // The secret files are the secret parameters; the connection string is built in the container from them.
            Assert.Matches("^.{22,}$", File.ReadAllText(Path.Combine(directory, "compose", "secrets", "postgres-password")));
            Assert.False(File.Exists(Path.Combine(directory, "compose", "secrets", "catalogdbapp-connectionstrings--catalogdb")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void AspireWithNode_resolves_the_redis_scheme_the_uri_filter_and_a_plain_parameter()
    {
        var (_, directory) = Publish("AspireWithNode", new() { ["PASS"] = "p@ss word" });
        try
        {
            var frontend = PublishedCartrita.Load(Path.Combine(directory, "compose", ComposePublisher.ProductionFile)).Map("services").Map("frontend");
            var environment = frontend.Map("environment");
            // `pass` is not secret in this manifest, so its value is in the file.
            Assert.Equal("redis://:p%40ss%20word@cache:6379", environment.Scalar("CACHE_URI"));
            Assert.Equal("cache:6379,password=p@ss word", environment.Scalar("ConnectionStrings__cache"));
            Assert.Equal("http://weatherapi:8080", environment.Scalar("WEATHERAPI_HTTP"));
            Assert.Matches(@"^\$\{[A-Z]+_BIND_ADDRESS:-127\.0\.0\.1\}:\$\{FRONTEND_PORT:-8000\}:8000$", Assert.Single(frontend.Strings("ports")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void A_parameter_without_any_value_is_an_error_naming_it()
    {
        var copy = CopyManifest("AspireWithNode");
        var publisher = new Publisher(copy, null, new Dictionary<string, string>());

        var error = Assert.Throws<PublishingException>(() => publisher.Compose(Path.Combine(Path.GetDirectoryName(copy)!, "out")));

        Assert.Contains("Parameter 'pass' has no value: set PASS (or Parameters__pass)", error.Message);
    }

    private static (Publisher, string) Publish(string name, Dictionary<string, string>? environment = null)
    {
        var manifest = CopyManifest(name);
        var directory = Path.GetDirectoryName(Path.GetDirectoryName(manifest))!;
        var publisher = new Publisher(manifest, null, environment ?? new() { ["PASS"] = "not-a-secret" });
        publisher.Compose(Path.Combine(directory, "compose")).Write();
        publisher.Kubernetes(Path.Combine(directory, "k8s")).Write();
        return (publisher, directory);
    }

    /// <summary>
    /// Copies a playground manifest into a fresh tree as <c>NAME.AppHost/aspire-manifest.json</c>, with an empty folder for
    /// every build context it names (docker-compose checks that they exist).
    /// </summary>
    private static string CopyManifest(string name)
    {
        var root = Repo.TempDirectory();
        var appHost = Path.Combine(root, $"{name}.AppHost");
        Directory.CreateDirectory(appHost);
        var manifest = Path.Combine(appHost, "aspire-manifest.json");
        File.Copy(Repo.TestData("manifests", name, "aspire-manifest.json"), manifest);

        foreach (var resource in JsonNode.Parse(File.ReadAllText(manifest))!["resources"]!.AsObject())
        {
            var context = (string?)resource.Value!["build"]?["context"] ?? (string?)resource.Value!["context"];
            if (context is not null)
            {
                Directory.CreateDirectory(Path.GetFullPath(context, appHost));
            }
        }
        return manifest;
    }
}
