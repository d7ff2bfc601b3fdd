using Cartrita.Publishing.Deployment;
using Cartrita.Publishing.Manifest;

namespace Cartrita.Publishing.Kubernetes;

/// <summary>
/// The names of the objects a workload gets besides its own (which is its <see cref="Workload.ServiceName"/>), and of its
/// volumes, ports and image: made in one place, as each is both given to an object and referred to from another.
/// </summary>
internal static class ObjectNames
{
    /// <summary>The ConfigMap with the workload's non-secret environment.</summary>
    public static string EnvironmentConfigMap(Workload workload) => $"{workload.ServiceName}-env";

    /// <summary>The Secret kustomize generates for the workload.</summary>
    public static string Secret(Workload workload) => $"{workload.ServiceName}-secrets";

    /// <summary>The ConfigMap kustomize generates with the backup script.</summary>
    public static string ScriptConfigMap(BackupJob backup) => $"{backup.Workload.ServiceName}-script";

    /// <summary>A named volume's claim and pod volume (a DNS label).</summary>
    public static string Volume(Volume volume) => DnsName.Slug(volume.Name);

    /// <summary>The pod volume of a writable path (an emptyDir).</summary>
    public static string WritablePath(WritablePath path) => DnsName.Slug(path.Path);

    /// <summary>A port name: a DNS label of at most 15 characters.</summary>
    public static string Port(WorkloadPort port)
    {
        var name = DnsName.Slug(port.Name);
        return name.Length <= 15 ? name : name[..15].TrimEnd('-');
    }

    /// <summary>The workload's image; a built one without its tag (the kustomization's <c>images</c> set it).</summary>
    public static string Image(Workload workload) => workload.Image switch
    {
        ImageReference reference => reference.Image,
        ImageBuild build => build.ImageName,
        ProjectImage project => project.ImageName,
        _ => throw new InvalidOperationException(),
    };
}
