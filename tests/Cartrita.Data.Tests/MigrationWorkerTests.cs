using System.Diagnostics;
using Cartrita.MigrationService;

namespace Cartrita.Data.Tests;

/// <summary>The real worker process against a real PostgreSQL + pgvector, one fresh database per test.</summary>
[Collection(PostgresCollection.Name)]
public sealed class MigrationWorkerTests(PostgresServer server)
{
    private static readonly string[] Tables = ["agents", "api_clients", "conversations", "memories", "messages", "users"];

    [Fact]
    public async Task Fresh_database_gets_extensions_tables_hnsw_index_and_seed_rows()
    {
        var connectionString = await server.CreateDatabaseAsync();

        var run = await MigrationWorker.RunAsync(connectionString);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.All(Db.Migrations, migration => Assert.Contains($"Applied migration {migration}", run.Output));
        // In particular no "Failed executing DbCommand" for the history table a fresh database does not have yet.
        Assert.DoesNotContain("fail:", run.Output);

        await using var db = await Db.OpenAsync(connectionString);
        var extensions = await db.ListAsync<string>("SELECT extname FROM pg_extension");
        Assert.Contains("vector", extensions);
        Assert.Contains("uuid-ossp", extensions);

        var tables = await db.ListAsync<string>(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'");
        Assert.Equal(
            Tables.Append("__EFMigrationsHistory").Order(StringComparer.Ordinal),
            tables.Order(StringComparer.Ordinal));

        var hnsw = await db.ListAsync<string>(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'memories' AND indexname = 'ix_memories_embedding'");
        var indexDefinition = Assert.Single(hnsw);
        Assert.Contains("USING hnsw (embedding vector_cosine_ops)", indexDefinition);
        Assert.Contains("m='16'", indexDefinition);
        Assert.Contains("ef_construction='64'", indexDefinition);

        Assert.Equal("vector(1536)", await db.ScalarAsync<string>(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'memories'::regclass AND attname = 'embedding'"));
        Assert.Equal(["code", "general", "research"], await db.ListAsync<string>("SELECT name FROM agents WHERE enabled ORDER BY name"));

        await Db.AssertEachMigrationRecordedOnceAsync(connectionString);
    }

    [Fact]
    public async Task Rerun_on_an_up_to_date_database_is_a_logged_no_op()
    {
        var connectionString = await server.CreateDatabaseAsync();
        var first = await MigrationWorker.RunAsync(connectionString);
        Assert.True(first.ExitCode == 0, first.ToString());

        var second = await MigrationWorker.RunAsync(connectionString);

        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Contains("no migrations to apply", second.Output);
        Assert.Contains("(no-op)", second.Output);
        Assert.DoesNotContain("Applied migration", second.Output);
        Assert.DoesNotContain("Created extension", second.Output);
        Assert.DoesNotContain("fail:", second.Output);
        Assert.True(second.Elapsed < TimeSpan.FromSeconds(30), $"a no-op took {second.Elapsed}");
        await Db.AssertEachMigrationRecordedOnceAsync(connectionString);
    }

    [Fact]
    public async Task Three_workers_started_together_on_an_empty_database_apply_each_migration_once()
    {
        var connectionString = await server.CreateDatabaseAsync();

        var runs = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => MigrationWorker.RunAsync(connectionString)));

        Assert.All(runs, run => Assert.True(run.ExitCode == 0, run.ToString()));
        Assert.All(runs, run => Assert.DoesNotContain("fail:", run.Output));
        // Exactly one worker migrated; the others found nothing to do once they had the lock.
        Assert.Single(runs, run => run.Output.Contains("Applied migration"));
        Assert.Single(runs, run => run.Output.Contains("Created extension"));
        Assert.Equal(2, runs.Count(run => run.Output.Contains("no migrations to apply")));
        await Db.AssertEachMigrationRecordedOnceAsync(connectionString);
    }

    [Fact]
    public async Task Worker_takes_the_migration_lock_before_creating_extensions_or_tables()
    {
        var connectionString = await server.CreateDatabaseAsync();
        await using var holder = await Db.OpenAsync(connectionString);
        await holder.ExecuteAsync("SELECT pg_advisory_lock($1)", DatabaseMigrator.MigrationLockKey);

        var worker = MigrationWorker.RunAsync(connectionString);
        try
        {
            // Wait until the worker is blocked on our lock, then check it has changed nothing yet.
            var waitedFor = Stopwatch.StartNew();
            while (await holder.ScalarAsync<long>(
                       "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = ($1 & x'FFFFFFFF'::bigint)::oid",
                       DatabaseMigrator.MigrationLockKey) == 0)
            {
                if (worker.IsCompleted)
                {
                    Assert.Fail($"the worker finished without waiting for the lock: {await worker}");
                }
                Assert.True(waitedFor.Elapsed < TimeSpan.FromSeconds(30), "the worker never waited for the migration lock");
                await Task.Delay(50);
            }

            Assert.Empty(await holder.ListAsync<string>("SELECT extname FROM pg_extension WHERE extname IN ('vector', 'uuid-ossp')"));
            Assert.Null(await holder.ScalarAsync<object?>("SELECT to_regclass('\"__EFMigrationsHistory\"')::text"));
        }
        finally
        {
            await holder.ExecuteAsync("SELECT pg_advisory_unlock($1)", DatabaseMigrator.MigrationLockKey);
        }

        var run = await worker;
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("waiting for it to finish", run.Output);
        await Db.AssertEachMigrationRecordedOnceAsync(connectionString);
    }

    [Fact]
    public async Task A_failing_migration_exits_non_zero_naming_the_migration_and_rolls_it_back()
    {
        var connectionString = await server.CreateDatabaseAsync();
        await using (var db = await Db.OpenAsync(connectionString))
        {
            // Something in the way of the first migration.
            await db.ExecuteAsync("CREATE TABLE agents (name text)");
        }

        var run = await MigrationWorker.RunAsync(connectionString);

        Assert.True(run.ExitCode != 0, run.ToString());
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        Assert.Contains($"migration '{Db.Migrations[0]}' failed", run.Output);
        Assert.Contains($"host 127.0.0.1, port {builder.Port}, database {builder.Database}", run.Output);
        // Each migration is one transaction: nothing of it is left behind, and it is not recorded.
        await using var check = await Db.OpenAsync(connectionString);
        Assert.Null(await check.ScalarAsync<object?>("SELECT to_regclass('conversations')::text"));
        Assert.Empty(await Db.HistoryAsync(connectionString));
    }

    [Fact]
    public async Task Unreachable_database_fails_fast_naming_host_and_port()
    {
        var closedPort = PostgresServer.GetFreePort();
        var connectionString = $"Host=127.0.0.1;Port={closedPort};Database=cartrita;Username=postgres;Password=unused";

        var run = await MigrationWorker.RunAsync(connectionString, TimeSpan.FromSeconds(90));

        Assert.True(run.ExitCode != 0, run.ToString());
        Assert.True(run.Elapsed < TimeSpan.FromSeconds(60), $"failing took {run.Elapsed}");
        Assert.Contains($"host 127.0.0.1, port {closedPort}, database cartrita", run.Output);
        Assert.Contains("crit:", run.Output);
    }
}
