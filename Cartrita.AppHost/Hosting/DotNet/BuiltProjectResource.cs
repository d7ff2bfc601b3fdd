namespace Aspire.Hosting.ApplicationModel;

/// <summary>A .NET project run from its build output with <c>dotnet</c>, rather than through <c>dotnet run</c>.</summary>
/// <param name="name">The resource name.</param>
/// <param name="projectPath">The project file.</param>
public sealed class BuiltProjectResource(string name, string projectPath)
    : ExecutableResource(name, "dotnet", Path.GetDirectoryName(projectPath)!)
{
    /// <summary>The project file.</summary>
    public string ProjectPath { get; } = projectPath;
}
