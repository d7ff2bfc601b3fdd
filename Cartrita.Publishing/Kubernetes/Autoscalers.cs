using Cartrita.Publishing.Deployment;
using k8s.Models;

namespace Cartrita.Publishing.Kubernetes;

/// <summary>A Deployment's HorizontalPodAutoscaler, scaling on CPU utilization.</summary>
internal static class Autoscalers
{
    /// <summary>The HorizontalPodAutoscaler of <paramref name="workload"/> as <paramref name="autoscale"/> asks.</summary>
    public static V2HorizontalPodAutoscaler For(Workload workload, AutoscaleProfile autoscale, ObjectLabels labels) => new()
    {
        ApiVersion = "autoscaling/v2",
        Kind = "HorizontalPodAutoscaler",
        Metadata = labels.Metadata(workload.ServiceName, workload),
        Spec = new V2HorizontalPodAutoscalerSpec
        {
            ScaleTargetRef = new V2CrossVersionObjectReference { ApiVersion = "apps/v1", Kind = "Deployment", Name = workload.ServiceName },
            MinReplicas = autoscale.MinReplicas,
            MaxReplicas = autoscale.MaxReplicas,
            Metrics =
            [
                new V2MetricSpec
                {
                    Type = "Resource",
                    Resource = new V2ResourceMetricSource
                    {
                        Name = "cpu",
                        Target = new V2MetricTarget { Type = "Utilization", AverageUtilization = autoscale.CpuUtilization },
                    },
                },
            ],
        },
    };
}
