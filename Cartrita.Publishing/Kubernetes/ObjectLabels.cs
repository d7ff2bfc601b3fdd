using Cartrita.Publishing.Deployment;
using k8s.Models;

namespace Cartrita.Publishing.Kubernetes;

/// <summary>
/// The labels of the objects of one application: each carries its workload's name (which pods are selected by) and the
/// application it is part of (the namespace's name).
/// </summary>
internal sealed class ObjectLabels(string application)
{
    /// <summary>The label with the workload's name.</summary>
    public const string NameLabel = "app.kubernetes.io/name";

    /// <summary>The label with the application's name.</summary>
    public const string PartOfLabel = "app.kubernetes.io/part-of";

    /// <summary>The application (the namespace's name).</summary>
    public string Application => application;

    /// <summary>An object of <paramref name="workload"/> named <paramref name="name"/>.</summary>
    public V1ObjectMeta Metadata(string name, Workload workload) => new() { Name = name, Labels = Of(workload) };

    /// <summary>The labels of <paramref name="workload"/>'s objects and pods.</summary>
    public Dictionary<string, string> Of(Workload workload) => new()
    {
        [NameLabel] = workload.ServiceName,
        [PartOfLabel] = application,
    };

    /// <summary>
    /// The labels <paramref name="workload"/>'s pods are selected by: only the name, as a selector cannot change once
    /// applied.
    /// </summary>
    public static Dictionary<string, string> Selector(Workload workload) => new() { [NameLabel] = workload.ServiceName };
}
