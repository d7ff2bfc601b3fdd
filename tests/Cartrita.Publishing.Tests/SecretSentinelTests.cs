namespace Cartrita.Publishing.Tests;

/// <summary>
/// With sentinel secret values set, the whole pipeline (the AppHost's manifest, then Compose and Kubernetes) writes them
/// only to the git-ignored secrets folders: never to the manifest, a Compose file, a Kubernetes file or .env.example.
/// </summary>
public sealed class SecretSentinelTests
{
    private static readonly Dictionary<string, string> Sentinels = new()
    {
        ["postgres-password"] = "SENTINEL-pg-password-7f3a9c21e4b8d605",
        ["postgres-owner-password"] = "SENTINEL-pg-owner-password-2d9e4c7a1b",
        ["postgres-app-password"] = "SENTINEL-pg-app-password-6b1f8d3e5c",
        ["admin-password"] = "SENTINEL-admin-password-4e7c2a9d0f",
        ["metrics-token"] = "SENTINEL-metrics-token-8c3b6e1d7a",
        ["proxy-token"] = "SENTINEL-proxy-token-5a1c9e3b7d2f4a6c8e0b",
        ["redis-password"] = "SENTINEL-redis-password-0c4e8a2b9d1f",
        ["jwt-secret"] = "SENTINEL-jwt-secret-5b2d8e1f4a7c9b3e6d0a",
        ["cartrita-api-key"] = "SENTINEL-api-key-9e8d7c6b5a4f3e2d1c0b",
        ["openai-api-key"] = "SENTINEL-openai-key-3c5e7a9b1d2f4e6a",
        ["anthropic-api-key"] = "SENTINEL-anthropic-key-8a6c4e2b0d9f",
        ["deepgram-api-key"] = "SENTINEL-deepgram-key-1b3d5f7a9c2e",
    };

    [Fact]
    public void Sentinel_secrets_reach_the_secret_files_and_nothing_else()
    {
        // Both ways of setting a parameter: the AppHost's Parameters__name, and NAME as in .env.example.
        var environment = new Dictionary<string, string>();
        var i = 0;
        foreach (var (parameter, value) in Sentinels)
        {
            environment[i++ % 2 == 0 ? $"Parameters__{parameter}" : Deployment.ParameterValues.EnvironmentName(parameter)] = value;
        }
        // The AppHost reads Parameters__name only.
        var appHostEnvironment = Sentinels.ToDictionary(s => $"Parameters__{s.Key}", s => s.Value);

        var manifest = Repo.GenerateManifest(appHostEnvironment);
        AssertClean("aspire-manifest.json (regenerated with the sentinels set)", manifest);

        var directory = Repo.TempDirectory();
        try
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var exit = CommandLine.Run(
                ["all", "--manifest", Repo.Path("aspire-manifest.json"), "--profile", Repo.Path(PublishedCartrita.Profile),
                 "--compose-out", Path.Combine(directory, "compose"), "--k8s-out", Path.Combine(directory, "k8s")],
                stdout, stderr, environment);
            Assert.True(exit == 0, stderr.ToString());
            AssertClean("the publisher's output", stdout.ToString() + stderr.ToString());

            var generated = Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
                .Where(f => !Path.GetRelativePath(directory, f).Split(Path.DirectorySeparatorChar).Contains("secrets"))
                .ToList();
            Assert.Contains(generated, f => f.EndsWith("docker-compose.prod.yml", StringComparison.Ordinal));
            Assert.Contains(generated, f => f.EndsWith(".env.example", StringComparison.Ordinal));
            Assert.Contains(generated, f => f.EndsWith("kustomization.yaml", StringComparison.Ordinal));
            foreach (var file in generated)
            {
                AssertClean(Path.GetRelativePath(directory, file), File.ReadAllText(file));
            }

            // …and the deployment does get them.
            foreach (var target in new[] { "compose", "k8s" })
            {
                var secrets = Path.Combine(directory, target, "secrets");
                Assert.Equal(Sentinels["jwt-secret"], File.ReadAllText(Path.Combine(secrets, "jwt-secret")));
                Assert.Equal(Sentinels["openai-api-key"], File.ReadAllText(Path.Combine(secrets, "openai-api-key")));
                // Only the parameters: nothing derived (URLs are built in the containers).
                Assert.Equal(Sentinels.Keys.Order(StringComparer.Ordinal), Directory.EnumerateFiles(secrets).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static void AssertClean(string what, string text)
    {
        foreach (var (parameter, sentinel) in Sentinels)
        {
            Assert.False(text.Contains(sentinel, StringComparison.Ordinal), $"{what} contains the value of {parameter}");
            // Nor a fragment long enough to matter (a value that was cut or encoded differently).
            Assert.False(text.Contains(sentinel[9..], StringComparison.Ordinal), $"{what} contains part of the value of {parameter}");
        }
    }
}
