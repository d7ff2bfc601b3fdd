using System.Text;
using Cartrita.Publishing.Manifest;

namespace Cartrita.Publishing.Tests;

/// <summary>Manifest expressions resolved for a deployment where each workload is reachable by name on its container port.</summary>
public sealed class ExpressionResolverTests
{
    private static readonly AspireManifest Manifest = ManifestReader.Parse(Encoding.UTF8.GetBytes("""
        {
          "resources": {
            "user": { "type": "parameter.v0", "value": "{user.inputs.value}", "inputs": { "value": { "type": "string" } } },
            "password": { "type": "parameter.v0", "value": "{password.inputs.value}",
                          "inputs": { "value": { "type": "string", "secret": true, "default": { "generate": { "minLength": 22 } } } } },
            "password-uri-encoded": { "type": "annotated.string", "value": "{password.value}", "filter": "uri" },
            "postgres": { "type": "container.v0", "image": "postgres:17",
                          "connectionString": "Host={postgres.bindings.tcp.host};Port={postgres.bindings.tcp.port};Username={user.value};Password={password.value}",
                          "bindings": { "tcp": { "scheme": "tcp", "protocol": "tcp", "transport": "tcp", "targetPort": 5432, "port": 15432 } } },
            "db": { "type": "value.v0", "connectionString": "{postgres.connectionString};Database=db" },
            "api": { "type": "project.v0", "path": "Api.csproj",
                     "bindings": { "http": { "scheme": "http", "protocol": "tcp", "transport": "http" },
                                   "https": { "scheme": "https", "protocol": "tcp", "transport": "http" } } },
            "Web": { "type": "dockerfile.v0", "path": "Dockerfile", "context": ".",
                     "bindings": { "http": { "scheme": "http", "protocol": "tcp", "transport": "http", "targetPort": 3000 } } },
            "loop-a": { "type": "value.v0", "connectionString": "{loop-b.connectionString}" },
            "loop-b": { "type": "value.v0", "connectionString": "{loop-a.connectionString}" }
          }
        }
        """), "/app/aspire-manifest.json");

    private readonly ExpressionResolver _resolver = new(Manifest);

    private string Text(string template) =>
        _resolver.Resolve(template, "test").Render(p => $"<{p}>", s => $"${{{s.Name}}}");

    [Fact]
    public void Binding_properties_resolve_to_the_service_name_and_container_port()
    {
        Assert.Equal("postgres", Text("{postgres.bindings.tcp.host}"));
        // In the deployment, other workloads use the container port (the manifest's `port` is for the host).
        Assert.Equal("5432", Text("{postgres.bindings.tcp.port}"));
        Assert.Equal("5432", Text("{postgres.bindings.tcp.targetPort}"));
        Assert.Equal("tcp://postgres:5432", Text("{postgres.bindings.tcp.url}"));
        Assert.Equal("http://web:3000", Text("{Web.bindings.http.url}"));
        Assert.Equal("ws://web:3000/socket", Text("ws://{Web.bindings.http.host}:{Web.bindings.http.port}/socket"));
    }

    [Fact]
    public void Bindings_without_a_port_get_the_defaults_of_a_container()
    {
        Assert.Equal("http://api:8080", Text("{api.bindings.http.url}"));
        Assert.Equal("https://api:8443", Text("{api.bindings.https.url}"));
    }

    [Fact]
    public void Parameters_stay_parameters_and_know_whether_they_are_secret()
    {
        var user = _resolver.Resolve("{user.value}", "test");
        var password = _resolver.Resolve("{password.value}", "test");

        Assert.Equal(new ParameterPart("user", false, []), Assert.Single(user.Parts), ParameterComparer);
        Assert.False(user.IsSecret);
        Assert.True(password.IsSecret);
        Assert.Equal("password", password.SingleParameter!.Parameter);
    }

    [Fact]
    public void Connection_strings_resolve_through_nested_references()
    {
        var value = _resolver.Resolve("{db.connectionString}", "test");

        Assert.Equal("Host=postgres;Port=5432;Username=<user>;Password=<password>;Database=db", value.Render(p => $"<{p}>", s => ""));
        Assert.True(value.IsSecret);
        Assert.Null(value.SingleParameter);
        Assert.Equal(["postgres"], value.References);
    }

    [Fact]
    public void The_uri_filter_encodes_the_parameter_value()
    {
        var value = _resolver.Resolve("postgresql://{user.value}:{password-uri-encoded.value}@{postgres.bindings.tcp.host}/db", "test");

        Assert.Equal("postgresql://robbie:p%40ss%2Fw%3Ard@postgres/db", value.Render(p => p == "user" ? "robbie" : "p@ss/w:rd", s => ""));
    }

    [Fact]
    public void Doubled_braces_are_literal_braces()
    {
        Assert.Equal("{\"port\": 5432}", Text("{{\"port\": {postgres.bindings.tcp.port}}}"));
    }

    [Fact]
    public void References_collect_the_workloads_used()
    {
        var value = _resolver.Resolve("{Web.bindings.http.url} {db.connectionString} {user.value}", "test");

        Assert.Equal(["Web", "postgres"], value.References);
    }

    [Theory]
    [InlineData("{nothing.bindings.http.url}", "unknown resource 'nothing'")]
    [InlineData("{postgres.bindings.http.url}", "has no binding 'http'")]
    [InlineData("{postgres.bindings.tcp.color}", "has no property 'color'")]
    [InlineData("{db.bindings.tcp.host}", "resource 'db' (value.v0) has no property 'bindings.tcp.host'")]
    [InlineData("{api.connectionString}", "has no connectionString")]
    [InlineData("{password.inputs.other}", "has no input 'other'")]
    [InlineData("{postgres}", "malformed expression")]
    [InlineData("{postgres.bindings.tcp.host", "unterminated expression")]
    [InlineData("{loop-a.connectionString}", "refers to itself")]
    public void Bad_references_are_named_in_the_error(string template, string expected)
    {
        var error = Assert.Throws<PublishingException>(() => _resolver.Resolve(template, "resource 'x', env 'Y'"));

        Assert.StartsWith("resource 'x', env 'Y'", error.Message);
        Assert.Contains(expected, error.Message);
    }

    private static readonly IEqualityComparer<ValuePart> ParameterComparer = EqualityComparer<ValuePart>.Create(
        (a, b) => a is ParameterPart pa && b is ParameterPart pb && pa.Parameter == pb.Parameter && pa.Secret == pb.Secret && pa.Filters.SequenceEqual(pb.Filters),
        p => p.GetHashCode());
}
