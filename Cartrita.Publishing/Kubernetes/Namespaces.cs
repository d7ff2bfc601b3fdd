using k8s.Models;

namespace Cartrita.Publishing.Kubernetes;

/// <summary>The application's Namespace.</summary>
internal static class Namespaces
{
    /// <summary>A Namespace enforcing the <c>restricted</c> Pod Security Standard (and auditing and warning on it).</summary>
    public static V1Namespace Restricted(ObjectLabels labels) => new()
    {
        ApiVersion = "v1",
        Kind = "Namespace",
        Metadata = new V1ObjectMeta
        {
            Name = labels.Application,
            Labels = new Dictionary<string, string>
            {
                ["pod-security.kubernetes.io/enforce"] = "restricted",
                ["pod-security.kubernetes.io/enforce-version"] = "latest",
                ["pod-security.kubernetes.io/audit"] = "restricted",
                ["pod-security.kubernetes.io/warn"] = "restricted",
                [ObjectLabels.PartOfLabel] = labels.Application,
            },
        },
    };
}
