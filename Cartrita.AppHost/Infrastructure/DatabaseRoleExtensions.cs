using System.Globalization;

namespace Aspire.Hosting;

/// <summary>A login role of a PostgreSQL database: its name and the secret parameter holding its password.</summary>
/// <param name="Name">The role name (a plain identifier).</param>
/// <param name="Password">Its password.</param>
public sealed record DatabaseRole(string Name, IResourceBuilder<ParameterResource> Password);

/// <summary>
/// Connections to a PostgreSQL database (the container or the local-process resource alike) as one of its roles rather
/// than as the server's superuser, and the migration worker's role bootstrap (Cartrita.MigrationService, DatabaseBootstrap).
/// </summary>
public static class DatabaseRoleExtensions
{
    /// <summary>The worker's superuser connection: it creates the roles and the extensions, then migrates as the owner.</summary>
    public const string AdminConnectionName = "postgres-admin";

    /// <summary>
    /// <c>Host=…;Port=…;Username=<paramref name="role"/>;Password=…;Database=…</c> for <paramref name="database"/>, for
    /// .NET clients and Cartrita.Operations.
    /// </summary>
    /// <param name="database">A PostgreSQL database resource.</param>
    /// <param name="role">The role to connect as.</param>
    /// <returns>The connection string, resolved when the server's endpoint is allocated.</returns>
    public static ReferenceExpression ConnectionStringFor(this IResourceBuilder<IResourceWithConnectionString> database, DatabaseRole role)
    {
        var (server, name) = Locate(database, role);
        return ReferenceExpression.Create(
            $"Host={server.Property(EndpointProperty.Host)};Port={server.Property(EndpointProperty.Port)};Username={role.Name};Password={role.Password.Resource};Database={name}");
    }

    /// <summary>
    /// <c>postgresql://<paramref name="role"/>:password@host:port/database</c> for <paramref name="database"/>, the password
    /// percent-encoded, for clients configured by URL (the orchestrator's <c>DATABASE_URL</c>).
    /// </summary>
    /// <param name="database">A PostgreSQL database resource.</param>
    /// <param name="role">The role to connect as.</param>
    /// <returns>The URL, resolved when the server's endpoint is allocated.</returns>
    public static ReferenceExpression DatabaseUrlFor(this IResourceBuilder<IResourceWithConnectionString> database, DatabaseRole role)
    {
        var (server, name) = Locate(database, role);
        return ReferenceExpression.Create(
            $"postgresql://{Uri.EscapeDataString(role.Name)}:{role.Password.Resource:uri}@{server.Property(EndpointProperty.Host)}:{server.Property(EndpointProperty.Port)}/{Uri.EscapeDataString(name)}");
    }

    /// <summary>
    /// The migration worker's environment for the roles: the superuser's server connection
    /// (<c>ConnectionStrings__postgres-admin</c>), its own as <paramref name="owner"/> (<c>ConnectionStrings__{database}</c>),
    /// and both roles' passwords (<c>CARTRITA_DB_OWNER_PASSWORD</c>, <c>CARTRITA_DB_APP_PASSWORD</c>). It creates or updates
    /// the roles, then migrates as the owner and grants <paramref name="app"/> its rights. Only this worker gets the
    /// superuser's password.
    /// </summary>
    /// <typeparam name="T">The worker's resource type.</typeparam>
    /// <param name="worker">The migration worker.</param>
    /// <param name="database">The database it migrates.</param>
    /// <param name="owner">The role that owns the schema.</param>
    /// <param name="app">The role the services use.</param>
    /// <returns>The worker's builder.</returns>
    public static IResourceBuilder<T> WithDatabaseRoleBootstrap<T>(
        this IResourceBuilder<T> worker, IResourceBuilder<IResourceWithConnectionString> database, DatabaseRole owner, DatabaseRole app)
        where T : IResourceWithEnvironment
    {
        ArgumentNullException.ThrowIfNull(worker);
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(app);
        var server = database.Resource is IResourceWithParent { Parent: IResourceWithConnectionString parent }
            ? parent
            : throw new ArgumentException($"'{database.Resource.Name}' is not a database inside a server.", nameof(database));
        return worker
            .WithReferenceRelationship(database)
            .WithEnvironment($"ConnectionStrings__{AdminConnectionName}", ReferenceExpression.Create($"{server}"))
            .WithEnvironment($"ConnectionStrings__{database.Resource.Name}", database.ConnectionStringFor(owner))
            .WithEnvironment("CARTRITA_DB_OWNER_PASSWORD", owner.Password)
            .WithEnvironment("CARTRITA_DB_APP_PASSWORD", app.Password);
    }

    // The server's endpoint and the database's name, for Aspire's container resource and our local-process one.
    private static (EndpointReference Server, string Database) Locate(IResourceBuilder<IResourceWithConnectionString> database, DatabaseRole role)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(role);
        return database.Resource switch
        {
            PostgresDatabaseResource container => (container.Parent.PrimaryEndpoint, container.DatabaseName),
            PostgresProcessDatabaseResource process => (process.Parent.PrimaryEndpoint, process.DatabaseName),
            var other => throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"'{other.Name}' is not a PostgreSQL database resource (container or process)."), nameof(database)),
        };
    }
}
