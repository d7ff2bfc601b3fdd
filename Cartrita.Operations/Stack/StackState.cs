using System.Text.Json;
using System.Text.Json.Serialization;
using Cartrita.Operations.Backups;

namespace Cartrita.Operations.Stack;

/// <summary>
/// What a running AppHost tells the terminal where its stack is: <c>run/stack.json</c> in its data folder, owner-only
/// (it holds connection strings), written while the AppHost runs and deleted when it stops. The file's one schema, with
/// each field, its location and lifetime, is <c>Stack/stack.schema.json</c>; this type is its only C# writer and reader
/// (Python's is <c>cartrita.orchestrator.stack_state</c>).
/// </summary>
public sealed record StackState
{
    /// <summary>The schema version this code writes and reads (<c>stack.schema.json</c>'s <c>SchemaVersion</c>).</summary>
    public const int CurrentSchemaVersion = 1;

    // The reader is as strict as the schema: every field present, none unknown, no null where the schema has none, so
    // a file of another shape fails here instead of being half understood.
    private static readonly JsonSerializerOptions Json = new()
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
    };

    /// <summary>The schema version the file follows; written first, so a reader can refuse a version it does not know.</summary>
    [JsonRequired]
    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    /// <summary>The AppHost's own process id: while it is alive the stack is running.</summary>
    [JsonRequired]
    public int AppHostProcessId { get; init; }

    /// <summary>The AppHost's environment name; a reset is allowed only in Development.</summary>
    [JsonRequired]
    public string Environment { get; init; } = "Production";

    /// <summary>
    /// The application database as its owner role (cartrita_owner: backups, restores, imports), an Npgsql connection
    /// string; <see langword="null"/> until PostgreSQL publishes it.
    /// </summary>
    [JsonRequired]
    public string? Database { get; init; }

    /// <summary>
    /// The same database as the server's superuser: only a reset (drop and create) and a restore's swap need it;
    /// <see langword="null"/> until PostgreSQL publishes it.
    /// </summary>
    [JsonRequired]
    public string? DatabaseAdmin { get; init; }

    /// <summary>Redis's connection string; <see langword="null"/> until Redis publishes it.</summary>
    [JsonRequired]
    public string? Redis { get; init; }

    /// <summary>Where the state file of the AppHost using <paramref name="dataDirectory"/> lives.</summary>
    /// <param name="dataDirectory">The AppHost's data folder (<c>Cartrita:DataDirectory</c>).</param>
    /// <returns><c>run/stack.json</c> under <paramref name="dataDirectory"/>.</returns>
    public static string PathIn(string dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(dataDirectory);
        return Path.Combine(dataDirectory, "run", "stack.json");
    }

    /// <summary>The state of the AppHost using <paramref name="dataDirectory"/>, or <see langword="null"/> when none is running.</summary>
    /// <param name="dataDirectory">The AppHost's data folder.</param>
    /// <returns>The state, or <see langword="null"/> when there is no file or the AppHost that wrote it is gone.</returns>
    /// <exception cref="OperationFailedException">The file is not a stack state of <see cref="CurrentSchemaVersion"/>.</exception>
    public static StackState? Read(string dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(dataDirectory);
        var path = PathIn(dataDirectory);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        var state = Parse(text, path);
        // A state file left by an AppHost that was killed: its process is gone.
        return IsAlive(state.AppHostProcessId) ? state : null;
    }

    /// <summary>Writes the state file (owner-only), replacing any earlier one in a single rename.</summary>
    /// <param name="dataDirectory">The AppHost's data folder.</param>
    public void Write(string dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(dataDirectory);
        var path = PathIn(dataDirectory);
        PrivateFiles.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp";
        // Owner-only before the connection strings go in, so they are never readable by others, not even briefly.
        File.Delete(temporary);
        using (var file = new StreamWriter(PrivateFiles.CreateFile(temporary)))
        {
            file.Write(JsonSerializer.Serialize(this, Json));
        }
        // Readers never see a half-written file.
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Deletes the state file, if any.</summary>
    /// <param name="dataDirectory">The AppHost's data folder.</param>
    public static void Delete(string dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(dataDirectory);
        try
        {
            File.Delete(PathIn(dataDirectory));
        }
        catch (DirectoryNotFoundException)
        {
            // Never written (the AppHost stopped before PostgreSQL or Redis published anything): nothing to delete.
        }
    }

    private static StackState Parse(string text, string path)
    {
        var fix = $"if no AppHost runs, delete {path}; otherwise stop it and start it again with `./cartrita up`";
        try
        {
            // The version first: a file of another version may have other fields, and saying so beats naming one of them.
            using (var document = JsonDocument.Parse(text))
            {
                var version = document.RootElement.ValueKind == JsonValueKind.Object
                    && document.RootElement.TryGetProperty(nameof(SchemaVersion), out var value) ? value.ToString() : "none";
                if (version != CurrentSchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture))
                {
                    throw new OperationFailedException(
                        $"{path} has stack state schema version {version}; this Cartrita reads version {CurrentSchemaVersion} ({fix}).");
                }
            }
            var state = JsonSerializer.Deserialize<StackState>(text, Json)!;
            if (state.AppHostProcessId < 1 || string.IsNullOrEmpty(state.Environment))
            {
                throw new OperationFailedException($"{path} names no AppHost process or no environment ({fix}).");
            }
            return state;
        }
        catch (JsonException ex)
        {
            throw new OperationFailedException($"{path} is not a valid stack state: {ex.Message} ({fix}).");
        }
    }

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
