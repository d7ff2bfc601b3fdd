using Cartrita.MigrationService;
using Cartrita.MigrationService.Data;
using Microsoft.EntityFrameworkCore;
using Npgsql;

var builder = Host.CreateApplicationBuilder(args);

builder.AddServiceDefaults();
builder.Services.AddHostedService<Worker>();
builder.Services.AddOpenTelemetry()
    .WithTracing(tracing => tracing.AddSource(Worker.ActivitySourceName));

var connectionString = new NpgsqlConnectionStringBuilder(
    builder.Configuration.GetConnectionString("cartrita")
        ?? throw new InvalidOperationException("ConnectionStrings:cartrita is not set: the AppHost passes it with WithReference(cartrita)."));
// Fail fast when the server is unreachable: a 5 s connect timeout (unless the connection string sets another) and
// few, short retries bound the worst case to about 4 × 5 s + 5 s of back-off, instead of Npgsql's 15 s × EF's 6 retries
// with up to 30 s between them.
if (connectionString.Timeout == new NpgsqlConnectionStringBuilder().Timeout)
{
    connectionString.Timeout = 5;
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
