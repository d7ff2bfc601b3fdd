namespace Cartrita.Tests;

/// <summary>The application model, built without running anything.</summary>
public sealed class AppModelTests
{
    private static async Task<IDistributedApplicationTestingBuilder> RunModeAsync() =>
        await DistributedApplicationTestingBuilder.CreateAsync<Projects.Cartrita_AppHost>(
            TestStack.ProcessesModeArgs(Path.GetTempPath()));

    private static async Task<IDistributedApplicationTestingBuilder> PublishModeAsync() =>
        await DistributedApplicationTestingBuilder.CreateAsync<Projects.Cartrita_AppHost>(
            ["--publisher", "manifest", "--output-path", Path.Combine(Path.GetTempPath(), $"cartrita-manifest-{Guid.NewGuid():N}.json")]);

    /// <summary>A resource's environment as the manifest writes it: names → literal values or {resource.property} expressions.</summary>
    private static async Task<Dictionary<string, string>> PublishedEnvironmentAsync(IResource resource)
    {
        var values = new Dictionary<string, object>();
        var context = new EnvironmentCallbackContext(new DistributedApplicationExecutionContext(DistributedApplicationOperation.Publish), resource, values);
        foreach (var callback in resource.Annotations.OfType<EnvironmentCallbackAnnotation>())
        {
            await callback.Callback(context);
        }
        return values.ToDictionary(pair => pair.Key, pair => pair.Value switch
        {
            string text => text,
            IManifestExpressionProvider expression => expression.ValueExpression,
            var other => other.ToString() ?? "",
        });
    }

    private static IResource Get(IDistributedApplicationTestingBuilder builder, string name) =>
        Assert.Single(builder.Resources, resource => resource.Name == name);

    [Fact]
    public async Task Processes_mode_models_every_service_as_a_local_process()
    {
        await using var builder = await RunModeAsync();

        Assert.IsType<PostgresProcessResource>(Get(builder, "postgres"));
        Assert.IsType<PostgresProcessDatabaseResource>(Get(builder, "cartrita"));
        Assert.IsType<RedisProcessResource>(Get(builder, "redis"));
        Assert.IsType<BuiltProjectResource>(Get(builder, "migrations"));
        Assert.IsType<UvicornAppResource>(Get(builder, "ai-orchestrator"));
        Assert.IsType<NextJsAppResource>(Get(builder, "frontend"));
        Assert.Empty(builder.Resources.OfType<ContainerResource>());
    }

    [Fact]
    public async Task Start_order_is_data_then_migrations_then_orchestrator_then_frontend()
    {
        await using var builder = await RunModeAsync();

        static IEnumerable<(string, WaitType)> WaitsOf(IResource resource) =>
            resource.Annotations.OfType<WaitAnnotation>().Select(wait => (wait.Resource.Name, wait.WaitType));

        Assert.Contains(("cartrita", WaitType.WaitUntilHealthy), WaitsOf(Get(builder, "migrations")));
        Assert.Contains(("redis", WaitType.WaitUntilHealthy), WaitsOf(Get(builder, "ai-orchestrator")));
        Assert.Contains(("migrations", WaitType.WaitForCompletion), WaitsOf(Get(builder, "ai-orchestrator")));
        Assert.Equal([("ai-orchestrator", WaitType.WaitUntilStarted)], WaitsOf(Get(builder, "frontend")));
    }

    [Theory]
    [InlineData("postgres")]
    [InlineData("cartrita")]
    [InlineData("redis")]
    [InlineData("ai-orchestrator")]
    [InlineData("frontend")]
    public async Task Every_long_running_resource_has_a_health_check(string name)
    {
        await using var builder = await RunModeAsync();

        Assert.NotEmpty(Get(builder, name).Annotations.OfType<HealthCheckAnnotation>());
    }

    [Fact]
    public async Task Secrets_are_secret_parameters_and_the_user_name_is_not()
    {
        await using var builder = await RunModeAsync();
        var parameters = builder.Resources.OfType<ParameterResource>().ToDictionary(p => p.Name);

        Assert.False(parameters["postgres-user"].Secret);
        Assert.All(
            ["postgres-password", "jwt-secret", "cartrita-api-key", "openai-api-key", "anthropic-api-key", "deepgram-api-key"],
            name => Assert.True(parameters[name].Secret, $"{name} should be secret"));
    }

    [Fact]
    public async Task Orchestrator_gets_the_seed_environment()
    {
        await using var builder = await PublishModeAsync();
        var environment = await PublishedEnvironmentAsync(Get(builder, "ai-orchestrator"));

        Assert.Superset(
            new HashSet<string> { "DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DEEPGRAM_API_KEY",
                "JWT_SECRET_KEY", "CARTRITA_API_KEY", "CARTRITA_ENV", "TESTING", "PORT" },
            environment.Keys.ToHashSet());
        Assert.StartsWith("postgresql://", environment["DATABASE_URL"]);
        Assert.EndsWith("/cartrita", environment["DATABASE_URL"]);
        Assert.StartsWith("redis://", environment["REDIS_URL"]);
        Assert.EndsWith("/0", environment["REDIS_URL"]);
        Assert.Equal("{jwt-secret.value}", environment["JWT_SECRET_KEY"]);
        Assert.Equal("production", environment["CARTRITA_ENV"]);
    }

    [Fact]
    public async Task Orchestrator_runs_with_the_uvicorn_flags_of_its_image()
    {
        await using var builder = await RunModeAsync();
        var args = await ContainersModeModelTests.ArgsAsync(Get(builder, "ai-orchestrator"));
        var dockerfile = File.ReadAllLines(Path.Combine(Reliability.Repository.Root, "services", "ai-orchestrator", "Dockerfile"));
        var command = System.Text.Json.JsonSerializer.Deserialize<string[]>(dockerfile.Single(line => line.StartsWith("CMD [", StringComparison.Ordinal))[4..])!;

        // The client address and the WebSocket limits depend on them (issue 17): the AppHost and the image agree.
        var flags = string.Join(' ', UvicornAppResourceBuilderExtensions.HardeningArguments);
        Assert.Equal("--no-proxy-headers --ws wsproto --ws-per-message-deflate false", flags);
        Assert.Contains(flags, string.Join(' ', args.OfType<string>()), StringComparison.Ordinal);
        Assert.Contains(flags, string.Join(' ', command), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Frontend_is_pointed_at_the_orchestrator_and_keeps_the_api_key_server_side()
    {
        await using var builder = await PublishModeAsync();
        var environment = await PublishedEnvironmentAsync(Get(builder, "frontend"));

        Assert.Contains("ai-orchestrator", environment["NEXT_PUBLIC_API_URL"]);
        Assert.StartsWith("ws://", environment["NEXT_PUBLIC_WS_URL"]);
        Assert.Contains("ai-orchestrator", environment["ORCHESTRATOR_URL"]);
        Assert.Equal("{cartrita-api-key.value}", environment["CARTRITA_API_KEY"]);
        Assert.DoesNotContain(environment, variable => variable.Key.StartsWith("NEXT_PUBLIC_", StringComparison.Ordinal) && variable.Value.Contains("api-key"));
    }

    [Fact]
    public async Task Publish_mode_models_containers_and_no_executables()
    {
        await using var builder = await PublishModeAsync();

        Assert.IsType<PostgresServerResource>(Get(builder, "postgres"));
        Assert.IsType<RedisResource>(Get(builder, "redis"));
        Assert.Empty(builder.Resources.OfType<ExecutableResource>());
        Assert.All(["ai-orchestrator", "frontend"], name =>
            Assert.True(Get(builder, name).TryGetLastAnnotation<DockerfileBuildAnnotation>(out _), $"{name} should build from its Dockerfile"));
        var postgresImage = Get(builder, "postgres").Annotations.OfType<ContainerImageAnnotation>().Last();
        Assert.Equal(("pgvector/pgvector", "0.8.0-pg15"), (postgresImage.Image, postgresImage.Tag));
    }
}
