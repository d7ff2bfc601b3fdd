using Cartrita.MigrationService;
using Npgsql;

namespace Cartrita.Data.Tests;

/// <summary>
/// The worker against databases the production path hands it: one that does not exist yet (Kubernetes, a volume
/// initialized without POSTGRES_DB), and a server whose volume was initialized with another password.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class DatabaseCreationTests(PostgresServer server)
{
    private static string MissingDatabaseName() => "missing_" + Guid.NewGuid().ToString("N")[..12];

    private async Task<bool> ExistsAsync(string database)
    {
        await using var db = await Db.OpenAsync(server.ConnectionString());
        return await db.ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", database);
    }

    [Fact]
    public async Task A_missing_database_is_created_then_migrated()
    {
        var database = MissingDatabaseName();
        Assert.False(await ExistsAsync(database));

        var run = await MigrationWorker.RunAsync(server.ConnectionString(database));

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains($"Created database {database}", run.Output);
        Assert.DoesNotContain("fail:", run.Output);
        Assert.True(await ExistsAsync(database));
        await Db.AssertEachMigrationRecordedOnceAsync(server.ConnectionString(database));
    }

    [Fact]
    public async Task Three_workers_on_one_missing_database_all_succeed_and_it_is_created_once()
    {
        var database = MissingDatabaseName();

        var runs = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => MigrationWorker.RunAsync(server.ConnectionString(database))));

        Assert.All(runs, run => Assert.True(run.ExitCode == 0, run.ToString()));
        Assert.Single(runs, run => run.Output.Contains($"Created database {database}"));
        await Db.AssertEachMigrationRecordedOnceAsync(server.ConnectionString(database));
    }

    [Fact]
    public async Task A_wrong_password_fails_at_once_with_one_line_naming_the_fix()
    {
        var database = await server.CreateDatabaseAsync();
        var wrong = new NpgsqlConnectionStringBuilder(database) { Password = "not-the-password-the-volume-has" }.ConnectionString;

        var run = await MigrationWorker.RunAsync(wrong, TimeSpan.FromSeconds(60));

        Assert.True(run.ExitCode != 0, run.ToString());
        Assert.True(run.Elapsed < TimeSpan.FromSeconds(20), $"a password mismatch took {run.Elapsed}: it must not be retried");
        var line = Assert.Single(run.Output.Split('\n'), l => l.Contains("28P01"));
        Assert.Contains("secrets/postgres-password", line);
        Assert.Contains("docker volume rm compose_cartrita-postgres-data", line);
        Assert.Contains("LOSING ITS DATA", line);
        Assert.DoesNotContain("not-the-password-the-volume-has", run.Output);
        Assert.DoesNotContain("   at ", run.Output); // no stack trace
    }

    [Fact]
    public void The_worker_never_probes_for_GSS_encryption_and_bounds_its_connect_timeout()
    {
        var connection = WorkerConnection.Create("Host=postgres;Database=cartrita;Username=u;Password=p");
        Assert.Equal(GssEncryptionMode.Disable, connection.GssEncryptionMode);
        Assert.Equal(5, connection.Timeout);

        // What a deployment sets explicitly wins.
        var explicitly = WorkerConnection.Create("Host=postgres;Database=cartrita;GSS Encryption Mode=Require;Timeout=30");
        Assert.Equal(GssEncryptionMode.Require, explicitly.GssEncryptionMode);
        Assert.Equal(30, explicitly.Timeout);
    }
}
