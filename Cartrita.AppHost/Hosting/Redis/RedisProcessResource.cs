namespace Aspire.Hosting.ApplicationModel;

/// <summary>
/// A Redis server run as a local process. Its connection string has the shape of Aspire's <c>RedisResource</c>
/// (<c>host:port,password=…</c>), so StackExchange.Redis clients and <c>WithReference</c> work unchanged.
/// </summary>
/// <param name="name">The resource name.</param>
/// <param name="command">The launcher DCP starts (<c>eng/local-servers/redis-server</c>); it runs in its own folder, since it
/// creates the data folder itself.</param>
/// <param name="dataDirectory">The folder for the append-only file and the generated config.</param>
/// <param name="password">The password clients authenticate with.</param>
public sealed class RedisProcessResource(string name, string command, string dataDirectory, ParameterResource password)
    : ExecutableResource(name, command, Path.GetDirectoryName(command) ?? "."), IResourceWithConnectionString
{
    internal const string PrimaryEndpointName = "tcp";

    /// <summary>The folder for persistence and the generated config file.</summary>
    public string DataDirectory { get; } = dataDirectory;

    /// <summary>The config file the launcher writes before each start; it carries the password so it never appears on a
    /// command line.</summary>
    public string ConfigFile => Path.Combine(DataDirectory, "redis.conf");

    /// <summary>The password parameter.</summary>
    public ParameterResource PasswordParameter { get; } = password;

    /// <summary>The TCP endpoint the server listens on.</summary>
    public EndpointReference PrimaryEndpoint => field ??= new(this, PrimaryEndpointName);

    /// <summary><c>host:port,password=…</c>, as Aspire's Redis resource writes it.</summary>
    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"{PrimaryEndpoint.Property(EndpointProperty.Host)}:{PrimaryEndpoint.Property(EndpointProperty.Port)},password={PasswordParameter}");

    /// <summary><c>redis://:password@host:port</c>, for clients that take a URL.</summary>
    public ReferenceExpression UriExpression => ReferenceExpression.Create(
        $"redis://:{PasswordParameter:uri}@{PrimaryEndpoint.Property(EndpointProperty.Host)}:{PrimaryEndpoint.Property(EndpointProperty.Port)}");

    IEnumerable<KeyValuePair<string, ReferenceExpression>> IResourceWithConnectionString.GetConnectionProperties() =>
    [
        new("Host", ReferenceExpression.Create($"{PrimaryEndpoint.Property(EndpointProperty.Host)}")),
        new("Port", ReferenceExpression.Create($"{PrimaryEndpoint.Property(EndpointProperty.Port)}")),
        new("Password", ReferenceExpression.Create($"{PasswordParameter}")),
        new("Uri", UriExpression),
    ];
}
