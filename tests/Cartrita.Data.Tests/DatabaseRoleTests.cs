using Cartrita.MigrationService;
using Npgsql;

namespace Cartrita.Data.Tests;

/// <summary>
/// The worker given the superuser's connection (as every deployment runs it): it creates cartrita_owner and cartrita_app,
/// migrates as the owner, and leaves the app role able to use rows and nothing more. Roles are cluster-wide, so every test
/// here uses the same two passwords.
/// </summary>
[Collection(PostgresCollection.Name)]
[Trait("Category", "Security")]
public sealed class DatabaseRoleTests(PostgresServer server)
{
    private const string OwnerPassword = "owner-Pa55word-for-tests-0123456789";
    private const string AppPassword = "app-Pa55word-for-tests-0123456789ab";

    private static string NewDatabaseName() => "roles_" + Guid.NewGuid().ToString("N")[..12];

    private string As(string role, string password, string database) =>
        new NpgsqlConnectionStringBuilder(server.ConnectionString(database)) { Username = role, Password = password }.ConnectionString;

    private string Owner(string database) => As(DatabaseRoles.Owner, OwnerPassword, database);

    private string App(string database) => As(DatabaseRoles.App, AppPassword, database);

    private Task<WorkerRun> BootstrapAsync(string database) =>
        MigrationWorker.RunAsync(Owner(database), new Dictionary<string, string>
        {
            ["ConnectionStrings__postgres-admin"] = server.ConnectionString(),
            [DatabaseRoles.OwnerPasswordVariable] = OwnerPassword,
            [DatabaseRoles.AppPasswordVariable] = AppPassword,
        });

    private async Task<string> MigratedDatabaseAsync()
    {
        var database = NewDatabaseName();
        var run = await BootstrapAsync(database);
        Assert.True(run.ExitCode == 0, run.ToString());
        return database;
    }

    /// <summary>Runs <paramref name="sql"/> as the app role and returns the SQLSTATE it failed with (null: it succeeded).</summary>
    private async Task<string?> AsAppAsync(string database, string sql)
    {
        await using var app = await Db.OpenAsync(App(database));
        try
        {
            await app.ExecuteAsync(sql);
            return null;
        }
        catch (PostgresException e)
        {
            return e.SqlState;
        }
    }

    [Fact]
    public async Task A_missing_database_is_created_for_the_owner_and_migrated_as_it()
    {
        var database = NewDatabaseName();

        var run = await BootstrapAsync(database);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains($"Created database {database}", run.Output);
        Assert.DoesNotContain("fail:", run.Output);
        Assert.DoesNotContain(OwnerPassword, run.Output);
        Assert.DoesNotContain(AppPassword, run.Output);
        await Db.AssertEachMigrationRecordedOnceAsync(server.ConnectionString(database));

        await using var db = await Db.OpenAsync(server.ConnectionString(database));
        Assert.Equal(DatabaseRoles.Owner, await db.ScalarAsync<string>("SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = current_database()"));
        // Every table, index and sequence of the schema is the owner's: it migrates, dumps and restores them.
        Assert.Empty(await db.ListAsync<string>("""
            SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'i', 'S', 'v', 'm') AND pg_get_userbyid(c.relowner) <> 'cartrita_owner'
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
            """));
        Assert.Equal([false, true, false], await db.ListAsync<bool>(
            "SELECT unnest(ARRAY[rolsuper, rolcreatedb, rolcreaterole]) FROM pg_roles WHERE rolname = 'cartrita_owner'"));
        Assert.Equal([false, false, false, false], await db.ListAsync<bool>(
            "SELECT unnest(ARRAY[rolsuper, rolcreatedb, rolcreaterole, rolbypassrls]) FROM pg_roles WHERE rolname = 'cartrita_app'"));
    }

    [Fact]
    public async Task The_app_role_may_read_and_write_every_table_and_nothing_else()
    {
        var database = await MigratedDatabaseAsync();
        await using var db = await Db.OpenAsync(server.ConnectionString(database));
        var tables = await db.ListAsync<string>("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
        Assert.Contains("memories", tables);

        foreach (var table in tables.Where(t => t != "__EFMigrationsHistory"))
        {
            Assert.True(await db.ScalarAsync<bool>("SELECT has_table_privilege('cartrita_app', $1, 'SELECT, INSERT, UPDATE, DELETE')", $"public.\"{table}\""),
                $"cartrita_app cannot read and write {table}");
            foreach (var privilege in new[] { "TRUNCATE", "REFERENCES", "TRIGGER" })
            {
                Assert.False(await db.ScalarAsync<bool>($"SELECT has_table_privilege('cartrita_app', $1, '{privilege}')", $"public.\"{table}\""),
                    $"cartrita_app has {privilege} on {table}");
            }
        }

        // Rows, for real: what the orchestrator does.
        Assert.Null(await AsAppAsync(database, """
            WITH c AS (INSERT INTO conversations (title) VALUES ('roles') RETURNING id)
            INSERT INTO messages (conversation_id, role, content) SELECT id, 'user', 'hello' FROM c;
            UPDATE conversations SET title = 'renamed', updated_at = now() WHERE title = 'roles';
            SELECT count(*) FROM messages JOIN conversations ON conversations.id = messages.conversation_id WHERE title = 'renamed';
            DELETE FROM conversations WHERE title = 'renamed';
            INSERT INTO memories (content, embedding) SELECT 'm', array_fill(0.5, ARRAY[1536])::vector;
            DELETE FROM memories WHERE content = 'm';
            """));

        // No DDL, no TRUNCATE, no extensions, no temporary tables, no rewriting the migrations' history.
        foreach (var (sql, why) in new[]
        {
            ("CREATE TABLE public.app_made (id int)", "create a table"),
            ("CREATE SCHEMA app_schema", "create a schema"),
            ("CREATE TEMP TABLE app_temp (id int)", "create a temporary table"),
            ("DROP TABLE memories", "drop a table"),
            ("ALTER TABLE memories ADD COLUMN extra text", "alter a table"),
            ("CREATE INDEX ON memories (created_at)", "create an index"),
            ("TRUNCATE messages", "truncate a table"),
            ("CREATE EXTENSION pg_trgm", "create a (trusted) extension"),
            ("DELETE FROM \"__EFMigrationsHistory\"", "delete the migrations' history"),
            ("COPY (SELECT 1) TO PROGRAM 'true'", "run a program on the server"),
        })
        {
            var state = await AsAppAsync(database, sql);
            Assert.True(state is PostgresErrorCodes.InsufficientPrivilege, $"cartrita_app could {why} ({sql}): {state ?? "it succeeded"}");
        }
        Assert.Null(await AsAppAsync(database, "SELECT count(*) FROM \"__EFMigrationsHistory\""));
    }

    [Fact]
    public async Task A_database_migrated_as_the_superuser_before_the_roles_existed_is_adopted()
    {
        var database = NewDatabaseName();
        var old = await MigrationWorker.RunAsync(server.ConnectionString(database));
        Assert.True(old.ExitCode == 0, old.ToString());

        var run = await BootstrapAsync(database);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("now belong to cartrita_owner", run.Output);
        Assert.Contains("no migrations to apply", run.Output);
        await using var db = await Db.OpenAsync(server.ConnectionString(database));
        Assert.Equal(["cartrita_owner"], await db.ListAsync<string>(
            "SELECT DISTINCT pg_get_userbyid(relowner)::text FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'i', 'S')"));
        Assert.Null(await AsAppAsync(database, "INSERT INTO agents (name, description) VALUES ('adopted', 'x'); DELETE FROM agents WHERE name = 'adopted'"));
        await Db.AssertEachMigrationRecordedOnceAsync(server.ConnectionString(database));
    }

    [Fact]
    public async Task A_rerun_changes_nothing_and_three_workers_at_once_all_succeed()
    {
        var database = NewDatabaseName();

        var runs = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => BootstrapAsync(database)));

        Assert.All(runs, run => Assert.True(run.ExitCode == 0, run.ToString()));
        Assert.All(runs, run => Assert.DoesNotContain("fail:", run.Output));
        Assert.Single(runs, run => run.Output.Contains("Applied migration"));
        Assert.Single(runs, run => run.Output.Contains($"Created database {database}"));
        await Db.AssertEachMigrationRecordedOnceAsync(server.ConnectionString(database));

        var again = await BootstrapAsync(database);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.DoesNotContain("Created", again.Output);
        Assert.DoesNotContain("now belong to", again.Output);
        Assert.Contains("(no-op)", again.Output);
    }

    [Fact]
    public async Task The_owner_restores_without_the_superuser_by_cloning_the_template()
    {
        var database = await MigratedDatabaseAsync();
        var template = DatabaseRoles.TemplateDatabase(database);
        await using (var db = await Db.OpenAsync(server.ConnectionString()))
        {
            Assert.Equal([true, false], await db.ListAsync<bool>("SELECT unnest(ARRAY[datistemplate, datallowconn]) FROM pg_database WHERE datname = $1", template));
        }

        // What a restore does as the owner: a scratch database from the template, then the dump's tables in it.
        var scratch = database + "_scratch";
        await using (var owner = await Db.OpenAsync(Owner("postgres")))
        {
            await owner.ExecuteAsync($"CREATE DATABASE \"{scratch}\" TEMPLATE \"{template}\"");
        }
        await using (var owner = await Db.OpenAsync(Owner(scratch)))
        {
            Assert.Equal(["uuid-ossp", "vector"], await owner.ListAsync<string>("SELECT extname::text FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1"));
            await owner.ExecuteAsync("CREATE TABLE restored (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), embedding vector(3))");
            // The owner cannot run programs on the server: a dump's COPY … TO PROGRAM fails when it restores one.
            var refused = await Assert.ThrowsAsync<PostgresException>(() => owner.ExecuteAsync("COPY (SELECT 1) TO PROGRAM 'true'"));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, refused.SqlState);
        }
        // The template's default privileges came along: the app uses the restored table at once.
        Assert.Null(await AsAppAsync(scratch, "INSERT INTO restored (embedding) VALUES ('[1,2,3]'); SELECT * FROM restored"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, await AsAppAsync(scratch, "DROP TABLE restored"));
    }
}
