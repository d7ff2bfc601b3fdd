namespace Aspire.Hosting.ApplicationModel;

/// <summary>
/// A PostgreSQL server run as a local process (no container runtime needed). It has the same connection-string shape as
/// Aspire's <c>PostgresServerResource</c> so consumers use <c>WithReference</c>/<c>WaitFor</c> unchanged.
/// </summary>
/// <param name="name">The resource name.</param>
/// <param name="command">The launcher DCP starts (<c>eng/local-servers/postgres-server</c>); it runs in its own folder, since
/// it creates the data folder itself.</param>
/// <param name="dataDirectory">The cluster's data folder; it persists across runs.</param>
/// <param name="userName">The superuser name.</param>
/// <param name="password">The superuser password.</param>
public sealed class PostgresProcessResource(string name, string command, string dataDirectory, ParameterResource userName, ParameterResource password)
    : ExecutableResource(name, command, Path.GetDirectoryName(command) ?? "."), IResourceWithConnectionString
{
    internal const string PrimaryEndpointName = "tcp";

    private readonly List<PostgresProcessDatabaseResource> _databases = [];

    /// <summary>The folder holding the cluster (PG_VERSION, postgresql.conf, base/...).</summary>
    public string DataDirectory { get; } = dataDirectory;

    /// <summary>The superuser name parameter.</summary>
    public ParameterResource UserNameParameter { get; } = userName;

    /// <summary>The superuser password parameter.</summary>
    public ParameterResource PasswordParameter { get; } = password;

    /// <summary>The TCP endpoint the server listens on.</summary>
    public EndpointReference PrimaryEndpoint => field ??= new(this, PrimaryEndpointName);

    /// <summary>The databases this server creates when it is ready.</summary>
    public IReadOnlyList<PostgresProcessDatabaseResource> Databases => _databases;

    /// <summary>Npgsql keyword form, as Aspire's container resource writes it.</summary>
    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"Host={PrimaryEndpoint.Property(EndpointProperty.Host)};Port={PrimaryEndpoint.Property(EndpointProperty.Port)};Username={UserNameParameter};Password={PasswordParameter}");

    /// <summary><c>postgresql://user:password@host:port</c>, for clients that take a URL (Python, Node).</summary>
    public ReferenceExpression UriExpression => ReferenceExpression.Create(
        $"postgresql://{UserNameParameter:uri}:{PasswordParameter:uri}@{PrimaryEndpoint.Property(EndpointProperty.Host)}:{PrimaryEndpoint.Property(EndpointProperty.Port)}");

    IEnumerable<KeyValuePair<string, ReferenceExpression>> IResourceWithConnectionString.GetConnectionProperties() =>
    [
        new("Host", ReferenceExpression.Create($"{PrimaryEndpoint.Property(EndpointProperty.Host)}")),
        new("Port", ReferenceExpression.Create($"{PrimaryEndpoint.Property(EndpointProperty.Port)}")),
        new("Username", ReferenceExpression.Create($"{UserNameParameter}")),
        new("Password", ReferenceExpression.Create($"{PasswordParameter}")),
        new("Uri", UriExpression),
    ];

    internal void AddDatabase(PostgresProcessDatabaseResource database) => _databases.Add(database);
}

/// <summary>A database inside a <see cref="PostgresProcessResource"/>; created by the server once it is ready.</summary>
/// <param name="name">The resource name.</param>
/// <param name="databaseName">The database name inside the server.</param>
/// <param name="parent">The server.</param>
public sealed class PostgresProcessDatabaseResource(string name, string databaseName, PostgresProcessResource parent)
    : Resource(name), IResourceWithParent<PostgresProcessResource>, IResourceWithConnectionString
{
    /// <summary>The server this database lives in.</summary>
    public PostgresProcessResource Parent { get; } = parent;

    /// <summary>The database name inside the server.</summary>
    public string DatabaseName { get; } = databaseName;

    /// <summary>The server's connection string with <c>Database=</c> appended, like Aspire's <c>PostgresDatabaseResource</c>.</summary>
    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create($"{Parent};Database={DatabaseName}");

    /// <summary><c>postgresql://user:password@host:port/database</c>.</summary>
    public ReferenceExpression UriExpression => ReferenceExpression.Create($"{Parent.UriExpression}/{DatabaseName:uri}");

    IEnumerable<KeyValuePair<string, ReferenceExpression>> IResourceWithConnectionString.GetConnectionProperties() =>
        ((IResourceWithConnectionString)Parent).GetConnectionProperties()
            .Where(property => property.Key != "Uri")
            .Append(new("Database", ReferenceExpression.Create($"{DatabaseName}")))
            .Append(new("Uri", UriExpression));
}
