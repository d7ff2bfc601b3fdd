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
        "conversations | owner_id | uuid | null | ",
        "memories | id | uuid | not null | uuid_generate_v4()",
        "memories | content | text | not null | ",
        "memories | metadata | jsonb | not null | '{}'::jsonb",
        "memories | embedding | vector(1536) | not null | ",
        "memories | created_at | timestamp with time zone | not null | now()",
        "memories | updated_at | timestamp with time zone | not null | now()",
        "memories | owner_id | uuid | null | ",
        "messages | id | uuid | not null | uuid_generate_v4()",
        "messages | conversation_id | uuid | not null | ",
        "messages | role | text | not null | ",
        "messages | content | text | not null | ",
        "messages | token_count | integer | not null | 0",
        "messages | agent | text | null | ",
        "messages | provider | text | null | ",
        "messages | created_at | timestamp with time zone | not null | now()",
        "users | id | uuid | not null | uuid_generate_v4()",
        "users | username | text | not null | ",
        "users | password_hash | text | not null | ",
        "users | created_at | timestamp with time zone | not null | now()",
        "users | updated_at | timestamp with time zone | not null | now()",
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
        Assert.Equal(
            ["ix_conversations_owner_id_updated_at", "ix_memories_embedding", "ix_memories_owner_id",
             "ix_messages_conversation_id_created_at", "ux_api_clients_name", "ux_users_username"],
            indexes);
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

        // users: lower-case names of 2-63 characters, unique.
        var userId = await db.ScalarAsync<Guid>("INSERT INTO users (username, password_hash) VALUES ('robbie', 'scrypt$x') RETURNING id");
        foreach (var name in new[] { "Robbie", "r", "-robbie", "rob bie" })
        {
            var badName = await Assert.ThrowsAsync<PostgresException>(() =>
                db.ExecuteAsync("INSERT INTO users (username, password_hash) VALUES ($1, 'h')", name));
            Assert.Equal("ck_users_username", badName.ConstraintName);
        }
        var taken = await Assert.ThrowsAsync<PostgresException>(() =>
            db.ExecuteAsync("INSERT INTO users (username, password_hash) VALUES ('robbie', 'h')"));
        Assert.Equal("ux_users_username", taken.ConstraintName);

        // owner_id: NULL is the service's space; a user's rows go with the user.
        Assert.Null(await db.ScalarAsync<Guid?>("INSERT INTO conversations DEFAULT VALUES RETURNING owner_id"));
        var owned = await db.ScalarAsync<Guid>("INSERT INTO conversations (owner_id) VALUES ($1) RETURNING id", userId);
        await db.ExecuteAsync("INSERT INTO messages (conversation_id, role, content) VALUES ($1, 'user', 'mine')", owned);
        await db.ExecuteAsync(
            "INSERT INTO memories (owner_id, content, embedding) SELECT $1, 'mine', array_fill(0.1, ARRAY[1536])::vector", userId);
        var unknownOwner = await Assert.ThrowsAsync<PostgresException>(() =>
            db.ExecuteAsync("INSERT INTO conversations (owner_id) VALUES (uuid_generate_v4())"));
        Assert.Equal("fk_conversations_users_owner_id", unknownOwner.ConstraintName);
        await db.ExecuteAsync("DELETE FROM users WHERE id = $1", userId);
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM conversations WHERE owner_id IS NOT NULL"));
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM messages"));
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM memories"));
    }
}
