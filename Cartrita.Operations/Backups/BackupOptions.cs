namespace Cartrita.Operations.Backups;

/// <summary>Where backups go and how many are kept (configuration section <c>Cartrita:Backups</c>).</summary>
public sealed class BackupOptions
{
    /// <summary>The backup folder; relative paths are from the repository root.</summary>
    public string Directory { get; set; } = "backups";

    /// <summary>How many backups to keep; older ones are deleted after each new backup.</summary>
    public int Keep { get; set; } = 7;

    /// <summary>The folder holding <c>pg_dump</c> and <c>psql</c>; their major version must match the server's.</summary>
    public string PostgresBinDirectory { get; set; } = "/usr/lib/postgresql/15/bin";
}
