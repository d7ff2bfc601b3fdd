using System.Text;
using Cartrita.Publishing.Manifest;

namespace Cartrita.Publishing.Tests;

/// <summary>Reading manifests: every type the publishers support, and clear errors for what they cannot read.</summary>
public sealed class ManifestReaderTests
{
    private static AspireManifest Parse(string json, string name = "/work/app/aspire-manifest.json") =>
        ManifestReader.Parse(Encoding.UTF8.GetBytes(json), name);

    [Fact]
    public void Reads_every_supported_type()
    {
        var manifest = Parse("""
            {
              "resources": {
                "p": { "type": "parameter.v0", "value": "{p.inputs.value}",
                       "inputs": { "value": { "type": "string", "secret": true, "default": { "generate": { "minLength": 20, "special": false } } } } },
                "v": { "type": "value.v0", "connectionString": "x={p.value}" },
                "a": { "type": "annotated.string", "value": "{p.value}", "filter": "uri" },
                "c0": { "type": "container.v0", "image": "redis:7", "entrypoint": "/bin/sh", "args": ["-c", "redis-server"],
                        "volumes": [ { "name": "data", "target": "/data", "readOnly": false } ],
                        "bindMounts": [ { "source": "./conf", "target": "/conf", "readOnly": true } ],
                        "bindings": { "tcp": { "scheme": "tcp", "protocol": "tcp", "transport": "tcp", "targetPort": 6379, "port": 16379 } } },
                "c1": { "type": "container.v1", "build": { "context": "web", "dockerfile": "web/Dockerfile", "args": { "A": "1", "B": null } } },
                "d": { "type": "dockerfile.v0", "path": "api/Dockerfile", "context": "api", "env": { "X": "1" } },
                "p0": { "type": "project.v0", "path": "../Api/Api.csproj", "args": ["--verbose"] },
                "p1": { "type": "project.v1", "path": "../Worker/Worker.csproj" }
              }
            }
            """);

        var parameter = Assert.IsType<ParameterResource>(manifest.Find("p"));
        Assert.True(parameter.IsSecret);
        Assert.Equal(new GenerateOptions(20, Special: false), parameter.Inputs["value"].Generate);
        Assert.Equal("x={p.value}", Assert.IsType<ValueResource>(manifest.Find("v")).ConnectionString);
        Assert.Equal("uri", Assert.IsType<AnnotatedStringResource>(manifest.Find("a")).Filter);

        var redis = Assert.IsType<ContainerResource>(manifest.Find("c0"));
        Assert.Equal(("redis:7", "/bin/sh"), (redis.Image, redis.Entrypoint));
        Assert.Equal(["-c", "redis-server"], redis.Args);
        Assert.Equal(new Volume("data", "/data", false), Assert.Single(redis.Volumes));
        Assert.Equal(new BindMount("./conf", "/conf", true), Assert.Single(redis.BindMounts));
        Assert.Equal(new Binding("tcp", "tcp", "tcp", "tcp", 6379, 16379, false), Assert.Single(redis.Bindings));

        var web = Assert.IsType<ContainerResource>(manifest.Find("c1"));
        Assert.Equal(("web", "web/Dockerfile"), (web.Build!.Context, web.Build.Dockerfile));
        Assert.Equal("", web.Build.Args["B"]);

        var api = Assert.IsType<DockerfileResource>(manifest.Find("d"));
        Assert.Equal(("api/Dockerfile", "api"), (api.Path, api.Context));
        Assert.Equal(new KeyValuePair<string, string>("X", "1"), Assert.Single(api.Environment));

        Assert.Equal("project.v0", Assert.IsType<ProjectResource>(manifest.Find("p0")).Type);
        Assert.Equal("project.v1", Assert.IsType<ProjectResource>(manifest.Find("p1")).Type);
        Assert.Equal(["c0", "c1", "d", "p0", "p1"], manifest.Workloads.Select(w => w.Name));
    }

    [Fact]
    public void Malformed_json_is_reported_with_line_and_column()
    {
        var error = Assert.Throws<PublishingException>(() => Parse("""
            {
              "resources": {
                "redis": { "type": "container.v0", "image": "redis" ,, }
              }
            }
            """));

        Assert.StartsWith("/work/app/aspire-manifest.json:3:", error.Message);
        Assert.Contains("malformed JSON", error.Message);
        Assert.Matches(@":3:\d+: ", error.Message);
    }

    [Fact]
    public void An_unsupported_type_names_the_resource_the_type_and_the_position()
    {
        var error = Assert.Throws<PublishingException>(() => Parse("""
            {
              "resources": {
                "api": { "type": "project.v0", "path": "Api.csproj" },
                "worker": {
                  "type": "executable.v0",
                  "command": "python", "workingDirectory": "."
                }
              }
            }
            """));

        Assert.Contains("/work/app/aspire-manifest.json:5:7:", error.Message);
        Assert.Contains("'worker'", error.Message);
        Assert.Contains("'executable.v0'", error.Message);
        Assert.Contains("container.v0", error.Message); // lists what is supported
    }

    [Fact]
    public void A_missing_required_property_names_the_resource_and_the_property()
    {
        var error = Assert.Throws<PublishingException>(() => Parse("""{ "resources": { "cache": { "type": "container.v0" } } }"""));

        Assert.Contains("resource 'cache' (container.v0)", error.Message);
        Assert.Contains("'image'", error.Message);
    }

    [Fact]
    public void A_property_of_the_wrong_type_is_reported_where_it_is()
    {
        var error = Assert.Throws<PublishingException>(() => Parse("""
            {
              "resources": {
                "cache": { "type": "container.v0", "image": "redis",
                  "bindings": { "tcp": { "scheme": "tcp", "protocol": "tcp", "transport": "tcp",
                    "targetPort": "6379" } } }
              }
            }
            """));

        Assert.Contains("aspire-manifest.json:5:9:", error.Message);
        Assert.Contains("resource 'cache'", error.Message);
        Assert.Contains("'bindings.tcp.targetPort' must be an integer", error.Message);
    }

    [Fact]
    public void Not_a_manifest_at_all()
    {
        var error = Assert.Throws<PublishingException>(() => Parse("""{ "services": {} }"""));

        Assert.Contains("not an Aspire manifest", error.Message);
    }

    [Fact]
    public void A_missing_file_says_how_to_make_it()
    {
        var error = Assert.Throws<PublishingException>(() => ManifestReader.Read("/nonexistent/aspire-manifest.json"));

        Assert.Contains("Manifest not found: /nonexistent/aspire-manifest.json", error.Message);
        Assert.Contains("./cartrita publish manifest", error.Message);
    }
}
