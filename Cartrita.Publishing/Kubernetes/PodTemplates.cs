using Cartrita.Publishing.Deployment;
using k8s.Models;

namespace Cartrita.Publishing.Kubernetes;

/// <summary>
/// A workload's pod: non-root, seccomp RuntimeDefault, no service-account token, no service links; a workload that must
/// wait for a job runs that job's container as an init container first.
/// </summary>
internal sealed class PodTemplates(DeploymentPlan plan, ParameterValues values, ObjectLabels labels)
{
    private readonly Containers _containers = new(values);

    /// <summary>The pod template of <paramref name="workload"/> with <paramref name="restartPolicy"/>.</summary>
    public V1PodTemplateSpec For(Workload workload, string restartPolicy)
    {
        var volumes = new List<V1Volume>();
        var initContainers = new List<V1Container>();
        foreach (var dependency in workload.Dependencies.Where(d => d.Condition == DependencyCondition.Completed))
        {
            // The job's own container runs first (it is idempotent): the workload starts only on a current schema.
            var job = plan[dependency.Target];
            initContainers.Add(_containers.For(job, job.ServiceName, volumes, probes: false, volumePrefix: job.ServiceName + "-"));
        }
        var container = _containers.For(workload, workload.ServiceName, volumes, probes: workload.Role == WorkloadRole.Service);

        return new V1PodTemplateSpec
        {
            Metadata = new V1ObjectMeta { Labels = labels.Of(workload) },
            Spec = new V1PodSpec
            {
                AutomountServiceAccountToken = false,
                // Service links would add variables such as REDIS_PORT=tcp://… that clash with the manifest's.
                EnableServiceLinks = false,
                RestartPolicy = restartPolicy,
                TerminationGracePeriodSeconds = workload.Volumes.Count > 0 ? 30 : null,
                SecurityContext = new V1PodSecurityContext
                {
                    RunAsNonRoot = true,
                    RunAsUser = workload.UserId,
                    RunAsGroup = workload.GroupId,
                    FsGroup = workload.Volumes.Count > 0 ? workload.GroupId : null,
                    SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
                },
                InitContainers = initContainers.Count == 0 ? null : initContainers,
                Containers = [container],
                Volumes = volumes.Count == 0 ? null : volumes,
            },
        };
    }
}
