using Cartrita.MigrationService;
using Cartrita.MigrationService.Data;
using Microsoft.EntityFrameworkCore;

var builder = Host.CreateApplicationBuilder(args);

builder.AddServiceDefaults();
builder.Services.AddHostedService<Worker>();
builder.Services.AddOpenTelemetry()
    .WithTracing(tracing => tracing.AddSource(Worker.ActivitySourceName));

// Registered by hand (not AddNpgsqlDbContext) because the provider needs UseVector(); Enrich adds Aspire's
// retries, health check and telemetry on top.
builder.Services.AddDbContextPool<CartritaDbContext>(options => options.UseNpgsql(
    builder.Configuration.GetConnectionString("cartrita")
        ?? throw new InvalidOperationException("ConnectionStrings:cartrita is not set: the AppHost passes it with WithReference(cartrita)."),
    npgsql => npgsql.UseVector()));
builder.EnrichNpgsqlDbContext<CartritaDbContext>();

builder.Build().Run();
