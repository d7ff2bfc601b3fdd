using Cartrita.Publishing.Manifest;
using k8s.Models;

namespace Cartrita.Publishing.Kubernetes;

/// <summary>A PersistentVolumeClaim: a StatefulSet's claim template, or a claim of its own (the backup job's).</summary>
internal static class Claims
{
    /// <summary>
    /// The claim of <paramref name="volume"/>, of <paramref name="storage"/> (a quantity such as <c>10Gi</c>), mounted by
    /// one node; a claim template has no <paramref name="labels"/> of its own (its claims get the StatefulSet's).
    /// </summary>
    public static V1PersistentVolumeClaim For(Volume volume, string storage, Dictionary<string, string>? labels = null) => new()
    {
        ApiVersion = "v1",
        Kind = "PersistentVolumeClaim",
        Metadata = new V1ObjectMeta { Name = ObjectNames.Volume(volume), Labels = labels },
        Spec = new V1PersistentVolumeClaimSpec
        {
            AccessModes = ["ReadWriteOnce"],
            Resources = new V1VolumeResourceRequirements
            {
                Requests = new Dictionary<string, ResourceQuantity> { ["storage"] = new(storage) },
            },
        },
    };
}
