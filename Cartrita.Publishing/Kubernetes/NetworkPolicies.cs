using Cartrita.Publishing.Deployment;
using k8s.Models;

namespace Cartrita.Publishing.Kubernetes;

/// <summary>
/// The NetworkPolicies: deny all, DNS, then exactly the paths the manifest's references use (and ingress to external
/// bindings, from anywhere unless the workload is proxied, and internet egress where the profile allows it).
/// </summary>
internal static class NetworkPolicies
{
    /// <summary>
    /// What "the internet" excludes: the private ranges (the cluster, the nodes, the rest of the network), link-local
    /// 169.254.0.0/16 (the cloud providers' instance metadata, 169.254.169.254, which hands out node credentials) and the
    /// shared range 100.64.0.0/10 (carrier-grade NAT; some clouds' metadata and some clusters' pod networks live there).
    /// </summary>
    internal static readonly string[] NonInternetRanges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"];

    /// <summary>The policies of <paramref name="plan"/>'s workloads and its backup job.</summary>
    public static List<object> For(DeploymentPlan plan, ObjectLabels labels)
    {
        var policies = new List<object>
        {
            Policy("default-deny-all", new V1LabelSelector(), ingress: [], egress: [], labels),
            Policy("allow-dns", new V1LabelSelector(), ingress: null, egress:
            [
                new V1NetworkPolicyEgressRule
                {
                    To = [new V1NetworkPolicyPeer
                    {
                        NamespaceSelector = new V1LabelSelector(),
                        PodSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["k8s-app"] = "kube-dns" } },
                    }],
                    Ports =
                    [
                        new V1NetworkPolicyPort { Protocol = "UDP", Port = 53 },
                        new V1NetworkPolicyPort { Protocol = "TCP", Port = 53 },
                    ],
                },
            ], labels),
        };

        // Which pods connect where: a workload's own references, plus those of the jobs it runs as init containers (and the
        // backup job's connection to its database server).
        var workloads = plan.Backup is { } backup ? [.. plan.Workloads, backup.Workload] : plan.Workloads;
        var connects = workloads.ToDictionary(w => w.Name, w => Connections(plan, w));

        foreach (var workload in workloads)
        {
            var selector = new V1LabelSelector { MatchLabels = ObjectLabels.Selector(workload) };
            var ingress = Ingress(workload, workloads.Where(w => connects[w.Name].Contains(workload.Name)).ToList());
            if (ingress.Count > 0)
            {
                policies.Add(Policy($"{workload.ServiceName}-ingress", selector, ingress, egress: null, labels));
            }

            var egress = new List<V1NetworkPolicyEgressRule>();
            foreach (var target in connects[workload.Name].Select(t => plan[t]).Where(t => t.Ports.Count > 0))
            {
                egress.Add(new V1NetworkPolicyEgressRule
                {
                    To = [new V1NetworkPolicyPeer { PodSelector = new V1LabelSelector { MatchLabels = ObjectLabels.Selector(target) } }],
                    Ports = [.. target.Ports.Select(p => new V1NetworkPolicyPort { Protocol = "TCP", Port = p.ContainerPort })],
                });
            }
            if (workload.InternetEgress)
            {
                egress.Add(new V1NetworkPolicyEgressRule
                {
                    To = [new V1NetworkPolicyPeer { IpBlock = new V1IPBlock { Cidr = "0.0.0.0/0", Except = [.. NonInternetRanges] } }],
                });
            }
            if (egress.Count > 0)
            {
                policies.Add(Policy($"{workload.ServiceName}-egress", selector, ingress: null, egress, labels));
            }
        }
        return policies;
    }

    /// <summary>
    /// Ingress to <paramref name="workload"/>'s ports from its <paramref name="callers"/>, and to its external ports from
    /// anywhere, or, when it is proxied, from the pods of its ingress namespaces only (none: its callers only).
    /// </summary>
    private static List<V1NetworkPolicyIngressRule> Ingress(Workload workload, List<Workload> callers)
    {
        var ingress = new List<V1NetworkPolicyIngressRule>();
        if (workload.Ports.Count > 0 && callers.Count > 0)
        {
            ingress.Add(new V1NetworkPolicyIngressRule
            {
                FromProperty = [.. callers.Select(c => new V1NetworkPolicyPeer { PodSelector = new V1LabelSelector { MatchLabels = ObjectLabels.Selector(c) } })],
                Ports = [.. workload.Ports.Select(p => new V1NetworkPolicyPort { Protocol = "TCP", Port = p.ContainerPort })],
            });
        }
        List<V1NetworkPolicyPort> ExternalPorts() =>
            [.. workload.Ports.Where(p => p.External).Select(p => new V1NetworkPolicyPort { Protocol = "TCP", Port = p.ContainerPort })];
        if (workload.Ports.Any(p => p.External) && !workload.Proxied)
        {
            // External bindings: reachable from outside the namespace (ingress controller, load balancer).
            ingress.Add(new V1NetworkPolicyIngressRule { Ports = ExternalPorts() });
        }
        else if (workload.Ports.Any(p => p.External) && workload.IngressNamespaces.Count > 0)
        {
            ingress.Add(new V1NetworkPolicyIngressRule
            {
                FromProperty = [.. workload.IngressNamespaces.Select(name => new V1NetworkPolicyPeer
                {
                    NamespaceSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = name } },
                })],
                Ports = ExternalPorts(),
            });
        }
        return ingress;
    }

    private static SortedSet<string> Connections(DeploymentPlan plan, Workload workload)
    {
        var targets = new SortedSet<string>(workload.References, StringComparer.Ordinal);
        foreach (var dependency in workload.Dependencies.Where(d => d.Condition == DependencyCondition.Completed))
        {
            targets.UnionWith(plan[dependency.Target].References);
        }
        targets.Remove(workload.Name);
        return targets;
    }

    private static V1NetworkPolicy Policy(
        string name, V1LabelSelector selector, List<V1NetworkPolicyIngressRule>? ingress, List<V1NetworkPolicyEgressRule>? egress, ObjectLabels labels)
    {
        var types = new List<string>();
        if (ingress is not null)
        {
            types.Add("Ingress");
        }
        if (egress is not null)
        {
            types.Add("Egress");
        }
        return new V1NetworkPolicy
        {
            ApiVersion = "networking.k8s.io/v1",
            Kind = "NetworkPolicy",
            Metadata = new V1ObjectMeta { Name = name, Labels = new Dictionary<string, string> { [ObjectLabels.PartOfLabel] = labels.Application } },
            Spec = new V1NetworkPolicySpec
            {
                PodSelector = selector,
                PolicyTypes = types,
                Ingress = ingress is { Count: > 0 } ? ingress : null,
                Egress = egress is { Count: > 0 } ? egress : null,
            },
        };
    }
}
