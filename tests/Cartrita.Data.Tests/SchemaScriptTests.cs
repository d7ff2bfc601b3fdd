using System.Diagnostics;
using Cartrita.MigrationService;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;

namespace Cartrita.Data.Tests;

/// <summary>
/// services/ai-orchestrator/tests/schema.sql, the schema the pytest suite loads instead of running the worker: exactly
/// the migrations' idempotent script, as eng/schema-sql.sh generates it.
/// </summary>
public sealed class SchemaScriptTests
{
    /// <summary>The checkout the tests run from (the folder holding Cartrita.sln); PostgresServer finds its launcher there.</summary>
    internal static readonly string Root = FindRoot();

    [Fact]
    public async Task Committed_schema_sql_is_the_migrations_idempotent_script()
    {
        var output = Path.Combine(Path.GetTempPath(), $"cartrita-schema-{Guid.NewGuid():N}.sql");
        try
        {
            // --no-build: the worker this test project references is built already, and is the build under test.
            var startInfo = new ProcessStartInfo("bash", ["eng/schema-sql.sh", "--no-build", output])
            {
                WorkingDirectory = Root,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(startInfo)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, $"eng/schema-sql.sh failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");

            var committed = await File.ReadAllTextAsync(Path.Combine(Root, "services", "ai-orchestrator", "tests", "schema.sql"));
            var regenerated = await File.ReadAllTextAsync(output);
            Assert.True(committed.Replace("\r\n", "\n") == regenerated.Replace("\r\n", "\n"),
                "services/ai-orchestrator/tests/schema.sql is stale: run `eng/schema-sql.sh` and commit the result.");
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Fact]
    public void The_worker_creates_the_extensions_the_migrations_declare()
    {
        // The pytest fixture creates the script's CREATE EXTENSION statements (the migrations') as the superuser, where the
        // worker creates its RequiredExtensions before migrating: the two lists must be one.
        using var context = Db.CreateContext("Host=localhost");
        var declared = context.GetService<IDesignTimeModel>().Model.GetPostgresExtensions().Select(e => e.Name);

        Assert.Equal(declared.Order(), DatabaseMigrator.RequiredExtensions.Order());
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Cartrita.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("Cartrita.sln not found above " + AppContext.BaseDirectory);
    }
}
