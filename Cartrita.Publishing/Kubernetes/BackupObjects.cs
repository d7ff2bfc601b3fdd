using Cartrita.Publishing.Deployment;
using k8s.Models;

namespace Cartrita.Publishing.Kubernetes;

/// <summary>
/// The backup job: a CronJob running the backup script (a generated ConfigMap) in the database server's image, hardened
/// like every pod, writing to a PersistentVolumeClaim of its own, with the password from the server's Secret.
/// </summary>
internal sealed class BackupObjects(PodTemplates pods, ParameterValues values, ObjectLabels labels)
{
    /// <summary>
    /// The backup job's ConfigMap (its environment), CronJob and PersistentVolumeClaim; a Secret of its own, when it needs
    /// one, is added to <paramref name="secrets"/> and its files to <paramref name="output"/>.
    /// </summary>
    public List<object> For(BackupJob backup, PublishOutput output, List<KustomizeSecret> secrets)
    {
        var workload = backup.Workload;
        var template = pods.For(workload, "Never");
        var pod = template.Spec;
        var container = pod.Containers.Single();
        container.Command = [.. BackupJob.Entrypoint];
        container.Args = [.. BackupJob.Arguments];

        // The password comes from the Secret the server already has for the same parameter (postgres-secrets'
        // POSTGRES_PASSWORD); only a server without one gets a Secret generated for the job.
        var password = workload.Environment.Single(v => v.Name == BackupJob.PasswordVariable);
        var serverVariable = backup.Server.Environment.FirstOrDefault(v =>
            v.Value.SingleParameter?.Parameter is { } parameter && parameter == password.Value.SingleParameter?.Parameter);
        var reference = container.Env.Single(e => e.Name == BackupJob.PasswordVariable).ValueFrom.SecretKeyRef;
        if (serverVariable is not null)
        {
            reference.Name = ObjectNames.Secret(backup.Server);
        }
        else if (Secrets.Generate(workload, values, output) is { } own)
        {
            secrets.Add(own);
        }

        // A CronJob has no claim templates: its claims are objects of their own (below), mounted by name.
        pod.Volumes ??= [];
        foreach (var volume in workload.Volumes)
        {
            var name = ObjectNames.Volume(volume);
            pod.Volumes.Add(new V1Volume { Name = name, PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = name } });
        }
        pod.Volumes.Add(new V1Volume { Name = "script", ConfigMap = new V1ConfigMapVolumeSource { Name = ObjectNames.ScriptConfigMap(backup), DefaultMode = 0b100_100_100 /* 0444 */ } });
        container.VolumeMounts.Add(new V1VolumeMount { Name = "script", MountPath = BackupJob.ScriptDirectory, ReadOnlyProperty = true });
        // Only when the claim's root does not belong to the group yet (a large claim is not walked on every run).
        pod.SecurityContext.FsGroupChangePolicy = "OnRootMismatch";

        var objects = new List<object>();
        if (ConfigMaps.Environment(workload, values, labels) is { } configMap)
        {
            objects.Add(configMap);
        }
        objects.Add(new V1CronJob
        {
            ApiVersion = "batch/v1",
            Kind = "CronJob",
            Metadata = labels.Metadata(workload.ServiceName, workload),
            Spec = new V1CronJobSpec
            {
                Schedule = backup.Schedule,
                ConcurrencyPolicy = "Forbid",
                // A run missed (controller down) still starts within the hour.
                StartingDeadlineSeconds = 3600,
                SuccessfulJobsHistoryLimit = 3,
                FailedJobsHistoryLimit = 3,
                JobTemplate = new V1JobTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = labels.Of(workload) },
                    Spec = new V1JobSpec
                    {
                        BackoffLimit = 2,
                        ActiveDeadlineSeconds = 3600,
                        Template = template,
                    },
                },
            },
        });
        objects.AddRange(workload.Volumes.Select(volume => Claims.For(volume, backup.Storage, labels.Of(workload))));
        return objects;
    }
}
