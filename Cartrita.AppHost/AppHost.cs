using Cartrita.AppHost.Infrastructure;
using Cartrita.AppHost.Terminal;

Refusals.PrintWithoutStackTrace();
var builder = DistributedApplication.CreateBuilder(args);
var options = builder.GetCartritaOptions();

builder.EnsurePrerequisites(options)
       .EnsurePortsAreFree()
       .EnsureContainerImages(options)
       .ReportStartupInTerminal(options);

// Parameters (set as Parameters__<name>; secrets are generated when unset)
var postgresUser = builder.AddParameter("postgres-user", "robbie");
var postgresPassword = builder.AddGeneratedSecret("postgres-password");
var postgresOwnerPassword = builder.AddGeneratedSecret("postgres-owner-password");
var postgresAppPassword = builder.AddGeneratedSecret("postgres-app-password");
var redisPassword = builder.AddGeneratedSecret("redis-password");
var jwtSecret = builder.AddGeneratedSecret("jwt-secret", minLength: 32);
var cartritaApiKey = builder.AddGeneratedSecret("cartrita-api-key");
var openAiApiKey = builder.AddOptionalSecret("openai-api-key");
var anthropicApiKey = builder.AddOptionalSecret("anthropic-api-key");
var deepgramApiKey = builder.AddOptionalSecret("deepgram-api-key");
var adminUser = builder.AddParameter("admin-user", "admin");
var adminPassword = builder.AddGeneratedSecret("admin-password", minLength: 12);
var metricsToken = builder.AddGeneratedSecret("metrics-token");
var proxyToken = builder.AddGeneratedSecret("proxy-token", minLength: 32);

// Data: PostgreSQL + pgvector and Redis, as containers or local processes (Cartrita:Infrastructure)
var cartritaDb = builder.AddCartritaPostgres(options, "postgres", "cartrita", postgresUser, postgresPassword);
var redis = builder.AddCartritaRedis(options, "redis", redisPassword)
    .WithFlushCommand()
    .PublishWithSchemaSchemes();

// Roles (the names the migration worker creates, Cartrita.MigrationService/DatabaseRoles.cs): postgres-user is the
// superuser and only bootstraps; the owner migrates, backs up and restores; the app uses rows
var owner = new DatabaseRole("cartrita_owner", postgresOwnerPassword);
var app = new DatabaseRole("cartrita_app", postgresAppPassword);

// Schema: the migration worker creates the roles, migrates as the owner, then the services that read the schema start
var migrations = builder.AddBuiltProject<Projects.Cartrita_MigrationService>("migrations")
    .WithDatabaseRoleBootstrap(cartritaDb, owner, app)
    .WaitFor(cartritaDb)
    .WithMigrationCommands(cartritaDb)
    .PublishAsDockerfileBuild("../Cartrita.MigrationService/Dockerfile", context: "..");

// Operations: dashboard commands and what `./cartrita backup|restore|reset|logs` read from the running stack
cartritaDb.WithBackupCommands(options.Backups, owner, migrations);
builder.PublishStackState(options.DataDirectory, cartritaDb, owner, redis)
       .WriteResourceLogs(options.DataDirectory);

// Services
var orchestrator = builder.AddUvicornApp("ai-orchestrator", "../services/ai-orchestrator", "cartrita.orchestrator.main:app", options.Orchestrator.Reload, options.Tools.Python)
    .WithPort(CartritaInfrastructureExtensions.PortOrAny(options.Ports.Orchestrator))
    .WithExternalHttpEndpoints()
    .WithReferenceRelationship(cartritaDb)
    .WithReference(redis)
    .WithEnvironment("DATABASE_URL", cartritaDb.DatabaseUrlFor(app))
    .WithEnvironment("REDIS_URL", redis.RedisUrl(database: 0))
    .WithEnvironment("JWT_SECRET_KEY", jwtSecret)
    .WithEnvironment("CARTRITA_API_KEY", cartritaApiKey)
    .WithEnvironment("OPENAI_API_KEY", openAiApiKey)
    .WithEnvironment("ANTHROPIC_API_KEY", anthropicApiKey)
    .WithEnvironment("DEEPGRAM_API_KEY", deepgramApiKey)
    .WithEnvironment("CARTRITA_ADMIN_USER", adminUser)
    .WithEnvironment("CARTRITA_ADMIN_PASSWORD", adminPassword)
    .WithEnvironment("METRICS_TOKEN", metricsToken)
    .WithEnvironment("TRUSTED_PROXY_TOKEN", proxyToken) // the frontend proves it is the frontend: its X-Forwarded-For counts
    .WithEnvironment("CARTRITA_ENV", builder.ExecutionContext.IsRunMode ? "development" : "production")
    .WithEnvironment("TESTING", options.Testing ? "true" : "false")
    .WithEnvironmentIfSet("RATE_LIMIT_REQUESTS", options.Orchestrator.RateLimitRequests)
    .WithHttpHealthCheck("/health")
    .WithStartupHealthPolling()
    .WaitFor(redis)
    .WaitForCompletion(migrations)
    .PublishAsDockerfileBuild("../services/ai-orchestrator/Dockerfile", containerPort: 8000);

var orchestratorUrl = orchestrator.GetEndpoint("http");

var frontend = builder.AddNextJsApp("frontend", "../frontend", options.Frontend.Mode)
    .WithPort(CartritaInfrastructureExtensions.PortOrAny(options.Ports.Frontend))
    .WithExternalHttpEndpoints()
    .WithOtlpExporter()
    .WithReference(orchestrator)
    .WithEnvironment("ORCHESTRATOR_URL", orchestratorUrl)
    .WithEnvironment("NEXT_PUBLIC_API_URL", orchestratorUrl)
    .WithEnvironment("NEXT_PUBLIC_WS_URL", ReferenceExpression.Create(
        $"ws://{orchestratorUrl.Property(EndpointProperty.Host)}:{orchestratorUrl.Property(EndpointProperty.Port)}"))
    .WithEnvironment("ORCHESTRATOR_PROXY_TOKEN", proxyToken)
    .WithHttpHealthCheck("/api/health")
    .WithStartupHealthPolling()
    .WaitForStart(orchestrator) // boots beside the orchestrator; its /api/health turns healthy once the orchestrator answers
    .PublishAsDockerfileBuild("../frontend/Dockerfile", containerPort: 3000);

// Browsers may call the orchestrator (CORS, its WebSocket) from the frontend's origin only; locally the page may be
// opened as localhost or as 127.0.0.1
var frontendUrl = frontend.GetEndpoint("http");
orchestrator.WithEnvironment("CORS_ALLOW_ORIGINS", builder.ExecutionContext.IsRunMode
    ? ReferenceExpression.Create($"{frontendUrl},http://127.0.0.1:{frontendUrl.Property(EndpointProperty.Port)}")
    : ReferenceExpression.Create($"{frontendUrl}"));

builder.Build().RunAndWaitForCleanup();
