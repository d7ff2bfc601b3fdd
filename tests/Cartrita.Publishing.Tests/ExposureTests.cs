using System.Text;
using Cartrita.Publishing.Compose;
using Cartrita.Publishing.Deployment;
using Cartrita.Publishing.Manifest;
using k8s;
using k8s.Models;

namespace Cartrita.Publishing.Tests;

/// <summary>
/// The profile's <c>exposure</c> on any manifest: a <c>proxied</c> workload's external port is published on a bind address
/// setting of its own (Compose) and admits only its callers and the ingress namespaces named (Kubernetes).
/// </summary>
[Trait("Category", "Security")]
public sealed class ExposureTests
{
    private const string Manifest = """
        { "resources": {
            "web": { "type": "container.v0", "image": "docker.io/library/nginx:1.27", "env": { "API": "{api.bindings.http.url}" },
              "bindings": { "http": { "scheme": "http", "protocol": "tcp", "transport": "http", "targetPort": 8080, "external": true } } },
            "api": { "type": "container.v0", "image": "docker.io/library/nginx:1.27",
              "bindings": { "http": { "scheme": "http", "protocol": "tcp", "transport": "http", "targetPort": 9000, "external": true } } } } }
        """;

    private static (PublishOutput Compose, PublishOutput Kubernetes) Publish(string profileYaml)
    {
        var manifest = ManifestReader.Parse(Encoding.UTF8.GetBytes(Manifest), "/app/aspire-manifest.json");
        var profile = DeploymentProfile.Parse("name: shop\n" + profileYaml, "profile.yaml");
        var plan = DeploymentPlan.Create(manifest, profile);
        var values = new ParameterValues(manifest, profile, new Dictionary<string, string>(), null, null);
        return (new ComposePublisher(plan, values).Publish("/app/compose", "aspire-manifest.json"),
                new Kubernetes.KubernetesPublisher(plan, values).Publish("/app/k8s", "aspire-manifest.json"));
    }

    private static Dictionary<string, V1NetworkPolicy> Policies(PublishOutput kubernetes) =>
        kubernetes.Files.Where(f => f.Key.EndsWith(".yaml", StringComparison.Ordinal) && f.Key != "kustomization.yaml").SelectMany(f => KubernetesYaml.LoadAllFromString(f.Value)).OfType<V1NetworkPolicy>().ToDictionary(p => p.Metadata.Name);

    [Fact]
    public void A_proxied_workload_has_its_own_bind_address_and_admits_its_callers_and_the_ingress_namespaces_only()
    {
        var (compose, kubernetes) = Publish("resources:\n  api:\n    exposure: proxied\n    kubernetes:\n      ingressNamespaces: [ingress-nginx]\n");

        var services = PublishedCartrita.Parse(compose.Files[ComposePublisher.ProductionFile]).Map("services");
        Assert.Equal(["${API_BIND_ADDRESS:-127.0.0.1}:${API_PORT:-9000}:9000"], services.Map("api").Strings("ports"));
        Assert.Equal(["${SHOP_BIND_ADDRESS:-127.0.0.1}:${WEB_PORT:-8080}:8080"], services.Map("web").Strings("ports"));

        var api = Policies(kubernetes)["api-ingress"].Spec.Ingress;
        Assert.All(api, rule => Assert.NotEmpty(rule.FromProperty));
        Assert.Contains(api, rule => rule.FromProperty.Any(p => p.PodSelector?.MatchLabels["app.kubernetes.io/name"] == "web"));
        var fromNamespace = Assert.Single(api, rule => rule.FromProperty.Any(p => p.NamespaceSelector is not null));
        Assert.Equal("ingress-nginx", fromNamespace.FromProperty.Single().NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]);
        Assert.Equal("9000", fromNamespace.Ports.Single().Port.Value);
        // The direct one keeps its rule open to any source (that is what external means).
        Assert.Contains(Policies(kubernetes)["web-ingress"].Spec.Ingress, rule => rule.FromProperty is null);
    }

    [Fact]
    public void Without_ingress_namespaces_a_proxied_workload_admits_its_callers_only()
    {
        var (_, kubernetes) = Publish("resources:\n  api:\n    exposure: proxied\n");

        var rule = Assert.Single(Policies(kubernetes)["api-ingress"].Spec.Ingress);
        Assert.Equal(["web"], rule.FromProperty.Select(p => p.PodSelector.MatchLabels["app.kubernetes.io/name"]));
    }

    [Fact]
    public void An_unknown_exposure_is_an_error()
    {
        var error = Assert.Throws<PublishingException>(() => Publish("resources:\n  api:\n    exposure: wide\n"));

        Assert.Contains("resource 'api'", error.Message);
        Assert.Contains("exposure 'wide'", error.Message);
    }
}
