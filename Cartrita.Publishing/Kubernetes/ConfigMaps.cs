using Cartrita.Publishing.Deployment;
using k8s.Models;

namespace Cartrita.Publishing.Kubernetes;

/// <summary>A workload's ConfigMap: its non-secret environment, which the container takes whole (<c>envFrom</c>).</summary>
internal static class ConfigMaps
{
    /// <summary>The ConfigMap of <paramref name="workload"/>, or none when all its environment is secret.</summary>
    public static V1ConfigMap? Environment(Workload workload, ParameterValues values, ObjectLabels labels)
    {
        var data = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var variable in workload.Environment.Where(v => !v.Value.IsSecret))
        {
            data[variable.Name] = variable.Value.Render(values.Get, s => s.Default);
        }
        foreach (var (name, value) in workload.KubernetesEnvironment)
        {
            data[name] = value;
        }
        return data.Count == 0 ? null : new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = labels.Metadata(ObjectNames.EnvironmentConfigMap(workload), workload),
            Data = data,
        };
    }

    /// <summary>Whether <paramref name="workload"/> has a ConfigMap.</summary>
    public static bool Exists(Workload workload) =>
        workload.Environment.Any(v => !v.Value.IsSecret) || workload.KubernetesEnvironment.Count > 0;
}
