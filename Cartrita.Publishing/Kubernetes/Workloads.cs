using Cartrita.Publishing.Deployment;
using k8s.Models;

namespace Cartrita.Publishing.Kubernetes;

/// <summary>
/// A workload's own object: a Job when it runs to completion, a StatefulSet with volume claim templates when it has
/// volumes, a Deployment otherwise.
/// </summary>
internal static class Workloads
{
    /// <summary>The object of <paramref name="workload"/>, its pods from <paramref name="pods"/>.</summary>
    public static object For(Workload workload, PodTemplates pods, ObjectLabels labels)
    {
        if (workload.Role == WorkloadRole.Job)
        {
            return new V1Job
            {
                ApiVersion = "batch/v1",
                Kind = "Job",
                Metadata = labels.Metadata(workload.ServiceName, workload),
                Spec = new V1JobSpec
                {
                    BackoffLimit = 4,
                    ActiveDeadlineSeconds = 900,
                    // Finished jobs go away, so the next `kubectl apply -k` runs the (idempotent) job again.
                    TtlSecondsAfterFinished = 600,
                    Template = pods.For(workload, "OnFailure"),
                },
            };
        }
        if (workload.Volumes.Count > 0)
        {
            return new V1StatefulSet
            {
                ApiVersion = "apps/v1",
                Kind = "StatefulSet",
                Metadata = labels.Metadata(workload.ServiceName, workload),
                Spec = new V1StatefulSetSpec
                {
                    ServiceName = workload.ServiceName,
                    Replicas = 1,
                    Selector = new V1LabelSelector { MatchLabels = ObjectLabels.Selector(workload) },
                    Template = pods.For(workload, "Always"),
                    VolumeClaimTemplates = [.. workload.Volumes.Select(v => Claims.For(v, workload.Storage))],
                },
            };
        }
        return new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = labels.Metadata(workload.ServiceName, workload),
            Spec = new V1DeploymentSpec
            {
                // The HorizontalPodAutoscaler owns the replica count when there is one.
                Replicas = workload.Autoscale is null ? workload.Replicas : null,
                RevisionHistoryLimit = 5,
                Selector = new V1LabelSelector { MatchLabels = ObjectLabels.Selector(workload) },
                Template = pods.For(workload, "Always"),
            },
        };
    }
}
