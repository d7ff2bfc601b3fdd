using Npgsql;

namespace Cartrita.Data.Tests;

/// <summary>
/// The table/column contract of SCHEMA.md, checked against a migrated database with plain SQL, the way the Python
/// orchestrator uses it. A change here is a change of that contract: update SCHEMA.md (and the Python side) with it;
/// the Python tests' schema.sql is regenerated from the migrations by eng/schema-sql.sh.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class SchemaContractTests(PostgresServer server)
{
    // table | column | type | nullability | default, as PostgreSQL reports them.
    private static readonly string[] Columns =
    [
        "agents | name | text | not null | ",
        "agents | description | text | not null | ''::text",
        "agents | enabled | boolean | not null | true",
        "api_clients | id | uuid | not null | uuid_generate_v4()",
        "api_clients | name | text | not null | ",
        "api_clients | key_hash | text | not null | ",
        "api_clients | created_at | timestamp with time zone | not null | now()",
        "api_clients | last_used_at | timestamp with time zone | null | ",
        "api_clients | revoked | boolean | not null | false",
        "conversations | id | uuid | not null | uuid_generate_v4()",
        "conversations | title | text | not null | ''::text",
        "conversations | agent | text | not null | 'general'::text",
        "conversations | created_at | timestamp with time zone | not null | now()",
        "conversations | updated_at | timestamp with time zone | not null | now()",
        "memories | id | uuid | not null | uuid_generate_v4()",
        "memories | content | text | not null | ",
        "memories | metadata | jsonb | not null | '{}'::jsonb",
        "memories | embedding | vector(1536) | not null | ",
        "memories | created_at | timestamp with time zone | not null | now()",
        "memories | updated_at | timestamp with time zone | not null | now()",
        "messages | id | uuid | not null | uuid_generate_v4()",
        "messages | conversation_id | uuid | not null | ",
        "messages | role | text | not null | ",
        "messages | content | text | not null | ",
        "messages | token_count | integer | not null | 0",
        "messages | agent | text | null | ",
        "messages | provider | text | null | ",
        "messages | created_at | timestamp with time zone | not null | now()",
    ];

    private const string ColumnsSql = """
        SELECT c.relname || ' | ' || a.attname || ' | ' || format_type(a.atttypid, a.atttypmod) || ' | '
               || CASE WHEN a.attnotnull THEN 'not null' ELSE 'null' END || ' | '
               || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
          AND c.relname <> '__EFMigrationsHistory'
        ORDER BY c.relname, a.attnum
        """;

    [Fact]
    public async Task Columns_defaults_and_constraints_behave_as_documented()
    {
        var connectionString = await server.CreateDatabaseAsync();
        var run = await MigrationWorker.RunAsync(connectionString);
        Assert.True(run.ExitCode == 0, run.ToString());
        await using var db = await Db.OpenAsync(connectionString);

        Assert.Equal(Columns, await db.ListAsync<string>(ColumnsSql));
        var indexes = await db.ListAsync<string>("SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE 'pk_%' AND tablename <> '__EFMigrationsHistory' ORDER BY 1");
        Assert.Equal(["ix_memories_embedding", "ix_messages_conversation_id_created_at", "ux_api_clients_name"], indexes);
        // HNSW (re)builds may use parallel workers although the TOASTed heap looks small.
        Assert.Equal(["parallel_workers=2"], await db.ListAsync<string>("SELECT unnest(reloptions) FROM pg_class WHERE relname = 'memories'"));

        // conversations: everything but the row itself has a default.
        var conversationId = await db.ScalarAsync<Guid>("INSERT INTO conversations DEFAULT VALUES RETURNING id");
        Assert.NotEqual(Guid.Empty, conversationId);
        Assert.Equal("general", await db.ScalarAsync<string>("SELECT agent FROM conversations WHERE id = $1", conversationId));

        // messages: role is checked, token_count defaults to 0, deleting the conversation deletes its messages.
        Assert.Equal(0, await db.ScalarAsync<int>(
            "INSERT INTO messages (conversation_id, role, content) VALUES ($1, 'user', 'hello') RETURNING token_count", conversationId));
        await db.ExecuteAsync("INSERT INTO messages (conversation_id, role, content, agent, provider) VALUES ($1, 'assistant', 'hi', 'general', 'openai')", conversationId);
        var badRole = await Assert.ThrowsAsync<PostgresException>(() =>
            db.ExecuteAsync("INSERT INTO messages (conversation_id, role, content) VALUES ($1, 'bot', 'x')", conversationId));
        Assert.Equal(PostgresErrorCodes.CheckViolation, badRole.SqlState);
        Assert.Equal("ck_messages_role", badRole.ConstraintName);
        await db.ExecuteAsync("DELETE FROM conversations WHERE id = $1", conversationId);
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM messages"));

        // api_clients: unique name, not revoked by default.
        Assert.False(await db.ScalarAsync<bool>("INSERT INTO api_clients (name, key_hash) VALUES ('web', 'h1') RETURNING revoked"));
        var duplicate = await Assert.ThrowsAsync<PostgresException>(() =>
            db.ExecuteAsync("INSERT INTO api_clients (name, key_hash) VALUES ('web', 'h2')"));
        Assert.Equal(PostgresErrorCodes.UniqueViolation, duplicate.SqlState);
        Assert.Equal("ux_api_clients_name", duplicate.ConstraintName);

        // memories: the embedding must have exactly 1536 dimensions.
        var wrongWidth = await Assert.ThrowsAsync<PostgresException>(() =>
            db.ExecuteAsync("INSERT INTO memories (content, embedding) VALUES ('x', '[0.1, 0.2, 0.3]'::vector)"));
        Assert.Contains("1536", wrongWidth.MessageText);
    }
}
