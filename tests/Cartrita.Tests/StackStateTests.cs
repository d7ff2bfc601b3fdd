using System.Text.Json;
using System.Text.Json.Nodes;
using Cartrita.Operations.Backups;
using Cartrita.Operations.Stack;
using Cartrita.Tests.Reliability;
using Json.Schema;

namespace Cartrita.Tests;

/// <summary>
/// run/stack.json against its one schema (Cartrita.Operations/Stack/stack.schema.json): what StackState writes has
/// exactly the schema's properties and is valid against it, and the reader accepts what the schema accepts and refuses
/// what it refuses, so the C# side and the schema cannot drift apart unnoticed (tests/test_stack_state.py does the same
/// for the Python reader).
/// </summary>
public sealed class StackStateTests : IDisposable
{
    // Above Linux's largest pid (pid_max is at most 2^22), so never a live process.
    internal const int NoSuchProcess = (1 << 22) + 12345;

    private readonly string _dataDirectory = TestStack.CreateDataDirectory();

    public void Dispose() => TestStack.DeleteDataDirectory(_dataDirectory);

    [Fact]
    public void Written_file_has_exactly_the_schemas_properties_and_is_valid_against_it()
    {
        Full(Environment.ProcessId).Write(_dataDirectory);

        StackStateSchema.AssertFollows(StackState.PathIn(_dataDirectory));
    }

    [Fact]
    public void Schema_version_and_required_fields_are_the_readers()
    {
        Assert.Equal(StackState.CurrentSchemaVersion, (int)StackStateSchema.Document["properties"]!["SchemaVersion"]!["const"]!);
        // The writer always writes every field (null until known), so the schema requires all of them.
        Assert.Equal(StackStateSchema.Properties.Order(), StackStateSchema.Document["required"]!.AsArray().Select(n => (string)n!).Order());
    }

    [Fact]
    public void Reader_reads_the_schemas_example()
    {
        var example = StackStateSchema.Example();
        example["AppHostProcessId"] = Environment.ProcessId;
        Assert.True(StackStateSchema.IsValid(example));
        WriteRaw(example.ToJsonString());

        var state = StackState.Read(_dataDirectory);

        Assert.NotNull(state);
        Assert.Equal(Environment.ProcessId, state.AppHostProcessId);
        Assert.Equal((string?)example["Environment"], state.Environment);
        Assert.Equal((string?)example["Database"], state.Database);
        Assert.Equal((string?)example["Redis"], state.Redis);
        Assert.Equal(StackState.CurrentSchemaVersion, state.SchemaVersion);
    }

    [Fact]
    public void No_file_or_a_dead_AppHost_is_no_running_stack()
    {
        Assert.Null(StackState.Read(_dataDirectory));

        // What a killed AppHost leaves behind: a valid file naming a process that is gone.
        Full(NoSuchProcess).Write(_dataDirectory);
        StackStateSchema.AssertFollows(StackState.PathIn(_dataDirectory));
        Assert.Null(StackState.Read(_dataDirectory));
    }

    public static TheoryData<string> Refused => new()
    {
        "SchemaVersion=2", "SchemaVersion=-", "AppHostProcessId=0", "AppHostProcessId=-", "Environment=null", "Environment=\"\"",
        "Redis=-", "Database=42", "DatabaseAdmin=7", "Unknown=1",
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Reader_refuses_what_the_schema_refuses(string change)
    {
        var (name, value) = (change.Split('=')[0], change.Split('=', 2)[1]);
        var document = StackStateSchema.Example();
        document["AppHostProcessId"] = Environment.ProcessId;
        if (value == "-")
        {
            document.Remove(name);
        }
        else
        {
            document[name] = JsonNode.Parse(value);
        }
        Assert.False(StackStateSchema.IsValid(document), $"the schema accepts {change}");
        WriteRaw(document.ToJsonString());

        var refusal = Assert.Throws<OperationFailedException>(() => StackState.Read(_dataDirectory));

        Assert.Contains(StackState.PathIn(_dataDirectory), refusal.Message);
    }

    [Fact]
    public void Another_schema_version_is_named_in_the_refusal()
    {
        WriteRaw("""{"SchemaVersion": 2, "Pid": 1}""");

        var refusal = Assert.Throws<OperationFailedException>(() => StackState.Read(_dataDirectory));

        Assert.Contains("schema version 2; this Cartrita reads version 1", refusal.Message);
    }

    internal static StackState Full(int processId) => new()
    {
        AppHostProcessId = processId,
        Environment = "Development",
        Database = "Host=127.0.0.1;Port=5432;Username=cartrita_owner;Password=p;Database=cartrita",
        DatabaseAdmin = "Host=127.0.0.1;Port=5432;Username=robbie;Password=p;Database=cartrita",
        Redis = "127.0.0.1:6379,password=p",
    };

    private void WriteRaw(string json)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(StackState.PathIn(_dataDirectory))!);
        File.WriteAllText(StackState.PathIn(_dataDirectory), json);
    }
}

/// <summary>The file the running AppHost writes, against the schema.</summary>
[Collection(StackCollection.Name)]
public sealed class RunningStackStateTests(StackFixture stack)
{
    [Fact]
    public async Task The_running_AppHost_writes_its_state_by_the_schema_and_the_reader_finds_it()
    {
        var path = StackState.PathIn(stack.DataDirectory);

        StackStateSchema.AssertFollows(path);
        var state = StackState.Read(stack.DataDirectory);
        Assert.NotNull(state);
        // The testing builder runs the AppHost inside the test process.
        Assert.Equal(Environment.ProcessId, state.AppHostProcessId);
        // The terminal's operations act as the database's owner; only a reset and a restore's swap use the superuser.
        var admin = await stack.App.GetConnectionStringAsync("cartrita");
        Assert.Equal(admin, state.DatabaseAdmin);
        var owner = new Npgsql.NpgsqlConnectionStringBuilder(state.Database);
        Assert.Equal("cartrita_owner", owner.Username);
        Assert.Equal(new Npgsql.NpgsqlConnectionStringBuilder(admin) { Username = null, Password = null }.ConnectionString,
            new Npgsql.NpgsqlConnectionStringBuilder(state.Database) { Username = null, Password = null }.ConnectionString);
        Assert.NotNull(state.Redis);
    }
}

/// <summary>stack.schema.json, loaded once (JsonSchema.Net registers a schema under its $id and refuses a second).</summary>
internal static class StackStateSchema
{
    private static readonly string Path = System.IO.Path.Combine(Repository.Root, "Cartrita.Operations", "Stack", "stack.schema.json");

    public static readonly JsonObject Document = JsonNode.Parse(File.ReadAllText(Path))!.AsObject();

    private static readonly JsonSchema Schema = JsonSchema.FromText(File.ReadAllText(Path));

    public static IReadOnlyList<string> Properties => [.. Document["properties"]!.AsObject().Select(p => p.Key)];

    public static JsonObject Example() => Document["examples"]![0]!.DeepClone().AsObject();

    public static bool IsValid(JsonNode document)
    {
        using var parsed = JsonDocument.Parse(document.ToJsonString());
        return Schema.Evaluate(parsed.RootElement).IsValid;
    }

    /// <summary>The file has exactly the schema's properties, is valid against it, and is owner-only.</summary>
    public static void AssertFollows(string file)
    {
        var written = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        Assert.Equal(Properties.Order(), written.Select(p => p.Key).Order());
        using var parsed = JsonDocument.Parse(File.ReadAllText(file));
        var result = Schema.Evaluate(parsed.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(result.IsValid, string.Join("\n", (result.Details ?? []).Where(d => d.Errors is not null)
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"))));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }
    }
}
