using Cartrita.Publishing.Deployment;
using k8s.Models;

namespace Cartrita.Publishing.Kubernetes;

/// <summary>A workload's Service: its ports under their names, each port the same as its target port.</summary>
internal static class Services
{
    /// <summary>The Service of <paramref name="workload"/> (which has ports).</summary>
    public static V1Service For(Workload workload, ObjectLabels labels) => new()
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = labels.Metadata(workload.ServiceName, workload),
        Spec = new V1ServiceSpec
        {
            Type = "ClusterIP",
            // A StatefulSet's pods get stable DNS names through a headless Service.
            ClusterIP = workload.Volumes.Count > 0 && workload.Role == WorkloadRole.Service ? "None" : null,
            Selector = ObjectLabels.Selector(workload),
            Ports = [.. workload.Ports.Select(p => new V1ServicePort
            {
                Name = ObjectNames.Port(p),
                Port = p.ContainerPort,
                TargetPort = ObjectNames.Port(p),
                Protocol = "TCP",
            })],
        },
    };
}
