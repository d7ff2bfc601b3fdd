using Cartrita.AppHost.Hosting.LocalProcesses;
using Cartrita.AppHost.Hosting.Postgres;
using HealthChecks.NpgSql;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Aspire.Hosting;

/// <summary>Adds PostgreSQL servers that run as local processes, for machines without a container runtime.</summary>
public static class PostgresProcessBuilderExtensions
{
    /// <summary>
    /// Adds a PostgreSQL server run as a local process from the machine's PostgreSQL binaries, through the repository's
    /// launcher <c>eng/local-servers/postgres-server</c>. The cluster is created in <paramref name="dataDirectory"/> on
    /// first start and kept across runs; a changed user name or password is applied to it before the server starts. When
    /// the AppHost runs as root the server runs as the <c>postgres</c> OS user. The resource is healthy once the server
    /// accepts authenticated connections.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="name">The resource name.</param>
    /// <param name="userName">The superuser name.</param>
    /// <param name="password">The superuser password.</param>
    /// <param name="dataDirectory">The data folder (created when missing).</param>
    /// <param name="port">The port to listen on; <see langword="null"/> lets the orchestrator pick a free one.</param>
    /// <param name="binDirectory">The folder holding <c>postgres</c> and <c>initdb</c>.</param>
    /// <returns>The resource builder.</returns>
    public static IResourceBuilder<PostgresProcessResource> AddPostgresProcess(
        this IDistributedApplicationBuilder builder,
        [ResourceName] string name,
        IResourceBuilder<ParameterResource> userName,
        IResourceBuilder<ParameterResource> password,
        string dataDirectory,
        int? port = null,
        string binDirectory = PostgresBinaries.DefaultBinDirectory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(userName);
        ArgumentNullException.ThrowIfNull(password);
        var binaries = new PostgresBinaries(binDirectory);
        dataDirectory = Path.GetFullPath(dataDirectory);
        var resource = new PostgresProcessResource(name, LocalServerLaunchers.Path(builder, "postgres-server"), dataDirectory, userName.Resource, password.Resource);

        // The launcher's contract: the secrets travel in its environment, never on a command line.
        return builder.AddLaunchedServer(resource, PostgresProcessResource.PrimaryEndpointName, port, "PGPORT",
                (checks, connectionString, key) => checks.AddNpgSql(connectionString, name: key),
                async (server, cancellationToken) => await AdminConnectionStringAsync(server, cancellationToken))
            .WithEnvironment("PGDATA", dataDirectory)
            .WithEnvironment("POSTGRES_BIN", binDirectory)
            .WithEnvironment("POSTGRES_USER", userName)
            .WithEnvironment("POSTGRES_PASSWORD", password)
            // pgvector's HNSW graph must fit in memory: an index build slows several-fold once it outgrows
            // maintenance_work_mem, and a search copies every graph page it visits in from the OS cache unless the index
            // fits in shared_buffers (figures: BENCHMARKS.md, "Search: 9.3 ms → 4.3–4.5 ms p50"). The rest stays at the
            // defaults.
            .WithArgs("-c", "shared_buffers=1GB", "-c", "maintenance_work_mem=1GB")
            .WithRequiredCommand(binaries.Postgres)
            .OnResourceReady(async (server, @event, cancellationToken) =>
            {
                var logger = @event.Services.GetRequiredService<ResourceLoggerService>().GetLogger(server);
                var notifications = @event.Services.GetRequiredService<ResourceNotificationService>();
                await CreateDatabasesAsync(server, logger, cancellationToken);
                foreach (var database in server.Databases)
                {
                    await notifications.PublishUpdateAsync(database, state => state with
                    {
                        State = KnownResourceStates.Running,
                        StartTimeStamp = DateTime.UtcNow,
                    });
                }
            });
    }

    /// <summary>
    /// Adds a database to a local PostgreSQL server. The server creates it when it becomes ready (if it does not exist
    /// yet); the database resource is healthy once a connection to it succeeds.
    /// </summary>
    /// <param name="builder">The server's resource builder.</param>
    /// <param name="name">The resource name.</param>
    /// <param name="databaseName">The database name; defaults to <paramref name="name"/>.</param>
    /// <returns>The database's resource builder.</returns>
    public static IResourceBuilder<PostgresProcessDatabaseResource> AddDatabase(
        this IResourceBuilder<PostgresProcessResource> builder,
        [ResourceName] string name,
        string? databaseName = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var database = new PostgresProcessDatabaseResource(name, databaseName ?? name, builder.Resource);
        builder.Resource.AddDatabase(database);

        string? connectionString = null;
        var healthCheckKey = $"{name}_check";
        builder.ApplicationBuilder.Services.AddHealthChecks().AddNpgSql(
            _ => connectionString ?? throw new InvalidOperationException($"The connection string for '{name}' is not available yet."),
            name: healthCheckKey);

        // Not a process of its own: it shows as Waiting under its server until the server has created it.
        return builder.ApplicationBuilder.AddResource(database)
            .WithParentRelationship(builder.Resource)
            .WithInitialState(new CustomResourceSnapshot
            {
                ResourceType = "PostgresDatabase",
                State = KnownResourceStates.Waiting,
                Properties = [new("postgres.database", database.DatabaseName)],
            })
            .WithHealthCheck(healthCheckKey)
            .WithStartupHealthPolling()
            .OnConnectionStringAvailable(async (db, _, cancellationToken) =>
                connectionString = Unpooled(await db.ConnectionStringExpression.GetValueAsync(cancellationToken)));
    }

    private static async Task CreateDatabasesAsync(PostgresProcessResource server, ILogger logger, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(await AdminConnectionStringAsync(server, cancellationToken));
        await connection.OpenAsync(cancellationToken);
        foreach (var databaseName in server.Databases.Select(database => database.DatabaseName))
        {
            await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @name", connection);
            exists.Parameters.AddWithValue("name", databaseName);
            if (await exists.ExecuteScalarAsync(cancellationToken) is not null)
            {
                continue;
            }
            var quoted = $"\"{databaseName.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
            await using var create = new NpgsqlCommand($"CREATE DATABASE {quoted}", connection);
            try
            {
                await create.ExecuteNonQueryAsync(cancellationToken);
                logger.LogInformation("Created database {Database}", databaseName);
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.DuplicateDatabase)
            {
                // Created concurrently: fine.
            }
        }
    }

    // The server's own connection string names no database (as Aspire's container resource); administrative
    // connections go to the maintenance database that initdb always creates.
    private static async Task<string> AdminConnectionStringAsync(PostgresProcessResource server, CancellationToken cancellationToken) =>
        new NpgsqlConnectionStringBuilder(Unpooled(await server.ConnectionStringExpression.GetValueAsync(cancellationToken))) { Database = "postgres" }.ConnectionString;

    // The AppHost's own connections (health checks, admin) must not sit idle in a pool: PostgreSQL's shutdown on
    // SIGTERM waits for every session to end, so an idle pooled connection would turn a clean stop into a kill.
    private static string Unpooled(string? connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString;
}
