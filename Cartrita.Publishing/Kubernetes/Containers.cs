using Cartrita.Publishing.Deployment;
using Cartrita.Publishing.Manifest;
using k8s.Models;

namespace Cartrita.Publishing.Kubernetes;

/// <summary>
/// A workload's container: non-root, read-only root filesystem, no privilege escalation, all capabilities dropped, seccomp
/// RuntimeDefault, emptyDir for writable paths, requests and limits; its environment from its ConfigMap and Secret.
/// </summary>
internal sealed class Containers(ParameterValues values)
{
    /// <summary>
    /// The container of <paramref name="workload"/> named <paramref name="name"/>; the pod volumes it mounts are added to
    /// <paramref name="podVolumes"/>, their names prefixed with <paramref name="volumePrefix"/> (an init container's are
    /// its job's, so that they do not clash with the workload's own).
    /// </summary>
    public V1Container For(Workload workload, string name, List<V1Volume> podVolumes, bool probes, string volumePrefix = "")
    {
        var mounts = new List<V1VolumeMount>();
        foreach (var path in workload.WritablePaths)
        {
            var volumeName = volumePrefix + ObjectNames.WritablePath(path);
            // In memory, as Compose's tmpfs (and counted against the memory limit), bounded by the profile's size.
            podVolumes.Add(new V1Volume { Name = volumeName, EmptyDir = new V1EmptyDirVolumeSource { Medium = "Memory", SizeLimit = Quantities.Memory(path.Size) } });
            mounts.Add(new V1VolumeMount { Name = volumeName, MountPath = path.Path });
        }
        foreach (var volume in workload.Volumes)
        {
            mounts.Add(new V1VolumeMount { Name = ObjectNames.Volume(volume), MountPath = volume.Target, ReadOnlyProperty = volume.ReadOnly ? true : null });
        }

        var env = new List<V1EnvVar>();
        var shimmed = new List<WorkloadVariable>();
        foreach (var variable in workload.Environment.Where(v => v.Value.IsSecret))
        {
            if (variable.Value.SingleParameter is not { } parameter)
            {
                shimmed.Add(variable);
                continue;
            }
            env.Add(new V1EnvVar
            {
                Name = variable.Name,
                ValueFrom = new V1EnvVarSource
                {
                    SecretKeyRef = new V1SecretKeySelector { Name = ObjectNames.Secret(workload), Key = ParameterValues.SecretFileName(parameter.Parameter) },
                },
            });
        }

        var container = new V1Container
        {
            Name = name,
            Image = $"{ObjectNames.Image(workload)}{(workload.Image is ImageReference ? "" : ":latest")}",
            ImagePullPolicy = "IfNotPresent",
            Command = workload.Entrypoint is null ? null : [workload.Entrypoint],
            Args = workload.Args is null ? null : [.. workload.Args.Select(Render)],
            Ports = workload.Ports.Count == 0 ? null : [.. workload.Ports.Select(p => new V1ContainerPort
            {
                Name = ObjectNames.Port(p),
                ContainerPort = p.ContainerPort,
                Protocol = "TCP",
            })],
            EnvFrom = ConfigMaps.Exists(workload) ? [new V1EnvFromSource { ConfigMapRef = new V1ConfigMapEnvSource { Name = ObjectNames.EnvironmentConfigMap(workload) } }] : null,
            Env = env.Count == 0 ? null : env,
            Resources = new V1ResourceRequirements
            {
                Requests = new Dictionary<string, ResourceQuantity>
                {
                    ["cpu"] = Quantities.Cpu(workload.Resources.ReservedCpus),
                    ["memory"] = Quantities.Memory(workload.Resources.ReservedMemory),
                },
                Limits = new Dictionary<string, ResourceQuantity>
                {
                    ["cpu"] = Quantities.Cpu(workload.Resources.LimitCpus),
                    ["memory"] = Quantities.Memory(workload.Resources.LimitMemory),
                },
            },
            SecurityContext = new V1SecurityContext
            {
                AllowPrivilegeEscalation = false,
                ReadOnlyRootFilesystem = true,
                RunAsNonRoot = true,
                RunAsUser = workload.UserId,
                RunAsGroup = workload.GroupId,
                Capabilities = new V1Capabilities { Drop = ["ALL"] },
                SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
            },
            VolumeMounts = mounts.Count == 0 ? null : mounts,
        };

        if (shimmed.Count > 0)
        {
            Shim(workload, container, shimmed, podVolumes, volumePrefix);
        }
        if (workload.PreStop is { } preStop)
        {
            container.Lifecycle = new V1Lifecycle { PreStop = new V1LifecycleHandler { Exec = new V1ExecAction { Command = [.. preStop] } } };
        }
        if (probes)
        {
            Probes.Add(container, workload);
        }
        return container;
    }

    private string Render(ResolvedValue value) => value.Render(values.Get, s => s.Default);

    /// <summary>
    /// Values built from secrets (connection strings, URLs): the Secret mounted at /run/secrets, read by the same
    /// entrypoint wrapper as in Compose. The kubelet leaves it as it is: it has no <c>$(NAME)</c> naming a variable, no <c>$$</c>.
    /// </summary>
    private void Shim(Workload workload, V1Container container, IReadOnlyList<WorkloadVariable> shimmed, List<V1Volume> podVolumes, string volumePrefix)
    {
        var command = workload.Command ?? throw new PublishingException(
            $"resource '{workload.Name}': {string.Join(", ", shimmed.Select(v => v.Name))} are built from secrets by a small entrypoint that then " +
            "runs the image's command, but that command is unknown (no Dockerfile CMD, no known image). Set 'command' for it in the deployment profile.");
        var (script, _) = SecretShim.Create(shimmed, values.Get);
        container.Command = ["/bin/sh", "-c", script, workload.ServiceName];
        container.Args = [.. command.Select(Render)];
        var volumeName = volumePrefix + "secrets";
        podVolumes.Add(new V1Volume { Name = volumeName, Secret = new V1SecretVolumeSource { SecretName = ObjectNames.Secret(workload), DefaultMode = 0b100_100_100 /* 0444 */ } });
        container.VolumeMounts ??= [];
        container.VolumeMounts.Add(new V1VolumeMount { Name = volumeName, MountPath = SecretShim.Directory, ReadOnlyProperty = true });
    }
}
