namespace Cartrita.MigrationService.Data.Entities;

/// <summary>An agent the orchestrator can route to (table <c>agents</c>), keyed by name.</summary>
public sealed class Agent
{
    public required string Name { get; set; }

    public string Description { get; set; } = "";

    public bool Enabled { get; set; } = true;
}
