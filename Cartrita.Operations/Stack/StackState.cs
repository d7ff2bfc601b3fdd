using System.Text.Json;

namespace Cartrita.Operations.Stack;

/// <summary>
/// What a running AppHost tells the terminal commands (<c>./cartrita backup</c>, <c>restore</c>, <c>reset</c>): where its
/// database and Redis are. Written to <c>.cartrita/run/stack.json</c> (owner-only: it holds connection strings) while the
/// AppHost runs, deleted when it stops.
/// </summary>
public sealed record StackState
{
    /// <summary>The application database as its owner role (cartrita_owner): backups, restores, imports.</summary>
    public string? Database { get; init; }

    /// <summary>The same database as the server's superuser: only a reset (drop and create) and a restore's swap need it.</summary>
    public string? DatabaseAdmin { get; init; }

    public string? Redis { get; init; }

    public string Environment { get; init; } = "Production";

    public int AppHostProcessId { get; init; }

    public static string PathIn(string dataDirectory) => Path.Combine(dataDirectory, "run", "stack.json");

    /// <summary>The state of the AppHost using <paramref name="dataDirectory"/>, or <see langword="null"/> when none is running.</summary>
    public static StackState? Read(string dataDirectory)
    {
        var path = PathIn(dataDirectory);
        if (!File.Exists(path))
        {
            return null;
        }
        var state = JsonSerializer.Deserialize<StackState>(File.ReadAllText(path));
        // A state file left by an AppHost that was killed: its process is gone.
        return state is not null && IsAlive(state.AppHostProcessId) ? state : null;
    }

    public void Write(string dataDirectory)
    {
        var path = PathIn(dataDirectory);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, "");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        File.WriteAllText(temporary, JsonSerializer.Serialize(this));
        File.Move(temporary, path, overwrite: true);
    }

    public static void Delete(string dataDirectory) => File.Delete(PathIn(dataDirectory));

    private static bool IsAlive(int processId)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
