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
        Assert.False(parameters["admin-user"].Secret);
        Assert.All(
            ["postgres-password", "postgres-owner-password", "postgres-app-password", "jwt-secret", "cartrita-api-key", "openai-api-key",
             "anthropic-api-key", "deepgram-api-key", "admin-password", "metrics-token"],
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
        Assert.Equal("{admin-user.value}", environment["CARTRITA_ADMIN_USER"]);
        Assert.Equal("{admin-password.value}", environment["CARTRITA_ADMIN_PASSWORD"]);
        Assert.Equal("{metrics-token.value}", environment["METRICS_TOKEN"]);
        // The browser's origin: the frontend's address (a deployment profile puts the public one in its place).
        Assert.Equal("{frontend.bindings.http.url}", environment["CORS_ALLOW_ORIGINS"]);
        // The frontend proves itself with a token (its address is dynamic in Compose and Kubernetes): no address is trusted.
        Assert.Equal("{proxy-token.value}", environment["TRUSTED_PROXY_TOKEN"]);
        Assert.False(environment.ContainsKey("TRUSTED_PROXIES"));
    }

    /// <summary>Issue 17: every service connected as the superuser; now the orchestrator is cartrita_app, and only the migration worker has the superuser.</summary>
    [Fact]
    public async Task The_orchestrator_connects_as_cartrita_app_and_only_the_migration_worker_gets_the_superuser()
    {
        await using var builder = await PublishModeAsync();
        var orchestrator = await PublishedEnvironmentAsync(Get(builder, "ai-orchestrator"));

        // (aspire-manifest.json shows the password percent-encoded: {postgres-app-password-uri-encoded.value}.)
        Assert.StartsWith("postgresql://cartrita_app:{postgres-app-password", orchestrator["DATABASE_URL"]);
        Assert.EndsWith("@{postgres.bindings.tcp.host}:{postgres.bindings.tcp.port}/cartrita", orchestrator["DATABASE_URL"]);
        Assert.DoesNotContain(orchestrator, variable => variable.Key.StartsWith("ConnectionStrings__cartrita", StringComparison.Ordinal) || variable.Key.StartsWith("CARTRITA_PASSWORD", StringComparison.Ordinal));

        var migrations = await PublishedEnvironmentAsync(Get(builder, "migrations"));
        Assert.Equal("{postgres.connectionString}", migrations["ConnectionStrings__postgres-admin"]);
        Assert.Equal("Host={postgres.bindings.tcp.host};Port={postgres.bindings.tcp.port};Username=cartrita_owner;Password={postgres-owner-password.value};Database=cartrita",
            migrations["ConnectionStrings__cartrita"]);
        Assert.Equal(("{postgres-owner-password.value}", "{postgres-app-password.value}"), (migrations["CARTRITA_DB_OWNER_PASSWORD"], migrations["CARTRITA_DB_APP_PASSWORD"]));

        string[] superuser = ["{postgres-password", "{postgres.connectionString}", "{cartrita.connectionString}", "{postgres-user"];
        foreach (var resource in builder.Resources.Where(r => r.Name != "migrations" && r is IResourceWithEnvironment && r is not PostgresServerResource))
        {
            var environment = await PublishedEnvironmentAsync(resource);
            Assert.DoesNotContain(environment, variable => superuser.Any(marker => variable.Value.Contains(marker, StringComparison.Ordinal)));
        }
    }

    [Fact]
    public async Task In_run_mode_the_orchestrator_trusts_no_address_and_accepts_the_frontends_origin()
    {
        await using var builder = await RunModeAsync();
        var values = new Dictionary<string, object>();
        var orchestrator = Get(builder, "ai-orchestrator");
        var context = new EnvironmentCallbackContext(new DistributedApplicationExecutionContext(DistributedApplicationOperation.Run), orchestrator, values);
        foreach (var callback in orchestrator.Annotations.OfType<EnvironmentCallbackAnnotation>())
        {
            await callback.Callback(context);
        }

        // Not even loopback: any local process could forge X-Forwarded-For; the frontend sends the proxy token instead.
        Assert.False(values.ContainsKey("TRUSTED_PROXIES"));
        // The frontend's URL, as localhost and as 127.0.0.1 (a page may be opened either way).
        var origins = Assert.IsType<ReferenceExpression>(values["CORS_ALLOW_ORIGINS"]);
        Assert.Equal("frontend", Assert.IsType<EndpointReference>(origins.ValueProviders[0]).Resource.Name);
        Assert.Contains(",http://127.0.0.1:", origins.Format);
        var url = Assert.IsAssignableFrom<IManifestExpressionProvider>(values["DATABASE_URL"]).ValueExpression;
        Assert.StartsWith("postgresql://cartrita_app:", url);
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
    public async Task Frontend_is_pointed_at_the_orchestrator_and_holds_only_the_proxy_token()
    {
        await using var builder = await PublishModeAsync();
        var environment = await PublishedEnvironmentAsync(Get(builder, "frontend"));

        Assert.Contains("ai-orchestrator", environment["NEXT_PUBLIC_API_URL"]);
        Assert.StartsWith("ws://", environment["NEXT_PUBLIC_WS_URL"]);
        Assert.Contains("ai-orchestrator", environment["ORCHESTRATOR_URL"]);
        // Issue 17: it signs users in and forwards their sessions; with the API key it handed everyone full access.
        Assert.DoesNotContain("CARTRITA_API_KEY", environment.Keys);
        // Its one secret vouches for the client addresses it forwards, and grants no data.
        Assert.Equal("{proxy-token.value}", environment["ORCHESTRATOR_PROXY_TOKEN"]);
        Assert.Equal(["ORCHESTRATOR_PROXY_TOKEN"], environment.Where(variable => variable.Value.Contains(".value}", StringComparison.Ordinal)).Select(variable => variable.Key));
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
