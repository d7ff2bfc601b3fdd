using Cartrita.MigrationService;
using Cartrita.MigrationService.Data;
using Microsoft.EntityFrameworkCore;

var builder = Host.CreateApplicationBuilder(args);

builder.AddServiceDefaults();
builder.Services.AddHostedService<Worker>();
builder.Services.AddOpenTelemetry()
    .WithTracing(tracing => tracing.AddSource(Worker.ActivitySourceName));

var connectionString = WorkerConnection.Create(
    builder.Configuration.GetConnectionString("cartrita")
        ?? throw new InvalidOperationException("ConnectionStrings:cartrita is not set: the AppHost passes it with WithReference(cartrita)."));

// The database creator needs the password, which EF's GetConnectionString() no longer shows once a connection opened.
builder.Services.AddSingleton(connectionString);

// With the superuser's connection string the worker manages the roles first (DatabaseBootstrap), then migrates as the
// owner that ConnectionStrings:cartrita names; without it, it migrates as whoever that is (a bare database, the tests).
if (builder.Configuration.GetConnectionString(DatabaseRoles.AdminConnectionName) is { Length: > 0 } admin)
{
    builder.Services.AddSingleton(services => new DatabaseBootstrap(
        WorkerConnection.Create(admin),
        connectionString.Database ?? throw new InvalidOperationException("ConnectionStrings:cartrita names no database."),
        NonEmpty(builder.Configuration[DatabaseRoles.OwnerPasswordVariable]),
        NonEmpty(builder.Configuration[DatabaseRoles.AppPasswordVariable]),
        services.GetRequiredService<ILogger<DatabaseBootstrap>>()));
}

// Registered by hand (not AddNpgsqlDbContext) because the provider needs UseVector(); Enrich adds Aspire's health
// check and telemetry on top, and keeps this retrying strategy instead of its default one.
builder.Services.AddDbContextPool<CartritaDbContext>(options => options.UseNpgsql(
    connectionString.ConnectionString,
    npgsql => npgsql
        .UseVector()
        .EnableRetryOnFailure(maxRetryCount: 3, maxRetryDelay: TimeSpan.FromSeconds(2), errorCodesToAdd: null)));
builder.EnrichNpgsqlDbContext<CartritaDbContext>();

builder.Build().Run();

static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
