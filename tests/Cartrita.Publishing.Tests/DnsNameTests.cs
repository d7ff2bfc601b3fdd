using System.Text;
using Cartrita.Publishing.Compose;
using Cartrita.Publishing.Deployment;
using Cartrita.Publishing.Kubernetes;
using Cartrita.Publishing.Manifest;
using k8s;
using k8s.Models;

namespace Cartrita.Publishing.Tests;

/// <summary>One name for a workload in Compose, in Kubernetes and in the connection strings that reach it.</summary>
public sealed class DnsNameTests
{
    [Theory]
    [InlineData("postgres", "postgres")]
    [InlineData("Web", "web")]
    [InlineData("ai-orchestrator", "ai-orchestrator")]
    [InlineData("Cache_Store", "cache-store")]
    [InlineData("cartrita.apphost-data", "cartrita-apphost-data")]
    [InlineData("/var/run", "var-run")]
    [InlineData("a--b", "a--b")]
    [InlineData("-é-", "x")]
    public void Slug_is_a_lower_case_DNS_label(string name, string expected)
    {
        Assert.Equal(expected, DnsName.Slug(name));
    }

    [Fact]
    public void Slug_falls_back_when_nothing_is_left()
    {
        Assert.Equal("app", DnsName.Slug(".", whenEmpty: "app"));
    }

    [Fact]
    public void A_resource_name_that_is_no_DNS_label_names_the_service_and_its_host_alike()
    {
        var manifest = ManifestReader.Parse(Encoding.UTF8.GetBytes("""
            {
              "resources": {
                "Cache_Store": { "type": "container.v0", "image": "redis:7",
                                 "bindings": { "tcp": { "scheme": "tcp", "protocol": "tcp", "transport": "tcp", "targetPort": 6379 } } },
                "api": { "type": "container.v0", "image": "nginx:1",
                         "env": { "CACHE_HOST": "{Cache_Store.bindings.tcp.host}" } }
              }
            }
            """), "/app/aspire-manifest.json");
        var profile = DeploymentProfile.Empty("shop");
        var plan = DeploymentPlan.Create(manifest, profile);
        var values = new ParameterValues(manifest, profile, new Dictionary<string, string>(), null, null);

        var compose = new ComposePublisher(plan, values).Publish("/app/compose", "aspire-manifest.json").Files[ComposePublisher.ProductionFile];
        var k8s = new KubernetesPublisher(plan, values).Publish("/app/k8s", "aspire-manifest.json");

        Assert.Contains("\n  cache-store:\n", compose, StringComparison.Ordinal);
        Assert.Contains("CACHE_HOST: cache-store\n", compose, StringComparison.Ordinal);
        var service = KubernetesYaml.LoadAllFromString(k8s.Files["cache-store.yaml"]).OfType<V1Service>().Single();
        Assert.Equal("cache-store", service.Metadata.Name);
        var configMap = KubernetesYaml.LoadAllFromString(k8s.Files["api.yaml"]).OfType<V1ConfigMap>().Single();
        Assert.Equal("cache-store", configMap.Data["CACHE_HOST"]);
    }

    [Fact]
    public void Two_resources_with_one_DNS_name_are_an_error()
    {
        var manifest = ManifestReader.Parse(Encoding.UTF8.GetBytes("""
            {
              "resources": {
                "my-api": { "type": "container.v0", "image": "nginx:1" },
                "My_Api": { "type": "container.v0", "image": "nginx:1" }
              }
            }
            """), "/app/aspire-manifest.json");

        var error = Assert.Throws<PublishingException>(() => DeploymentPlan.Create(manifest, DeploymentProfile.Empty()));

        Assert.Contains("'my-api' and 'My_Api' of /app/aspire-manifest.json would share the name 'my-api'", error.Message, StringComparison.Ordinal);
    }
}
