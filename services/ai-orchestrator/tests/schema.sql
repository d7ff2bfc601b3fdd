CREATE TABLE IF NOT EXISTS "__EFMigrationsHistory" (
    "MigrationId" character varying(150) NOT NULL,
    "ProductVersion" character varying(32) NOT NULL,
    CONSTRAINT "PK___EFMigrationsHistory" PRIMARY KEY ("MigrationId")
);

START TRANSACTION;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261125172622_InitialSchema') THEN
    CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
    CREATE EXTENSION IF NOT EXISTS vector;
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261125172622_InitialSchema') THEN
    CREATE TABLE agents (
        name text NOT NULL,
        description text NOT NULL DEFAULT '',
        enabled boolean NOT NULL DEFAULT TRUE,
        CONSTRAINT pk_agents PRIMARY KEY (name)
    );
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261125172622_InitialSchema') THEN
    CREATE TABLE api_clients (
        id uuid NOT NULL DEFAULT (uuid_generate_v4()),
        name text NOT NULL,
        key_hash text NOT NULL,
        created_at timestamp with time zone NOT NULL DEFAULT (now()),
        last_used_at timestamp with time zone,
        revoked boolean NOT NULL DEFAULT FALSE,
        CONSTRAINT pk_api_clients PRIMARY KEY (id)
    );
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261125172622_InitialSchema') THEN
    CREATE TABLE conversations (
        id uuid NOT NULL DEFAULT (uuid_generate_v4()),
        title text NOT NULL DEFAULT '',
        agent text NOT NULL DEFAULT 'general',
        created_at timestamp with time zone NOT NULL DEFAULT (now()),
        updated_at timestamp with time zone NOT NULL DEFAULT (now()),
        CONSTRAINT pk_conversations PRIMARY KEY (id)
    );
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261125172622_InitialSchema') THEN
    CREATE TABLE memories (
        id uuid NOT NULL DEFAULT (uuid_generate_v4()),
        content text NOT NULL,
        metadata jsonb NOT NULL DEFAULT ('{}'::jsonb),
        embedding vector(1536) NOT NULL,
        created_at timestamp with time zone NOT NULL DEFAULT (now()),
        updated_at timestamp with time zone NOT NULL DEFAULT (now()),
        CONSTRAINT pk_memories PRIMARY KEY (id)
    );
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261125172622_InitialSchema') THEN
    CREATE TABLE messages (
        id uuid NOT NULL DEFAULT (uuid_generate_v4()),
        conversation_id uuid NOT NULL,
        role text NOT NULL,
        content text NOT NULL,
        token_count integer NOT NULL DEFAULT 0,
        agent text,
        provider text,
        created_at timestamp with time zone NOT NULL DEFAULT (now()),
        CONSTRAINT pk_messages PRIMARY KEY (id),
        CONSTRAINT ck_messages_role CHECK (role IN ('user', 'assistant', 'system', 'tool')),
        CONSTRAINT fk_messages_conversations_conversation_id FOREIGN KEY (conversation_id) REFERENCES conversations (id) ON DELETE CASCADE
    );
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261125172622_InitialSchema') THEN
    INSERT INTO agents (name, description, enabled)
    VALUES ('code', 'Writes, explains and reviews code.', TRUE);
    INSERT INTO agents (name, description, enabled)
    VALUES ('general', 'General conversation and task routing.', TRUE);
    INSERT INTO agents (name, description, enabled)
    VALUES ('research', 'Finds, reads and summarises sources.', TRUE);
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261125172622_InitialSchema') THEN
    CREATE UNIQUE INDEX ux_api_clients_name ON api_clients (name);
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261125172622_InitialSchema') THEN
    CREATE INDEX ix_memories_embedding ON memories USING hnsw (embedding vector_cosine_ops) WITH (ef_construction=64, m=16);
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261125172622_InitialSchema') THEN
    CREATE INDEX ix_messages_conversation_id_created_at ON messages (conversation_id, created_at);
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261125172622_InitialSchema') THEN
    INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
    VALUES ('20261125172622_InitialSchema', '10.0.15');
    END IF;
END $EF$;
COMMIT;

START TRANSACTION;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261125195002_MemoriesParallelIndexBuilds') THEN
    ALTER TABLE memories SET (parallel_workers = 2);
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261125195002_MemoriesParallelIndexBuilds') THEN
    INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
    VALUES ('20261125195002_MemoriesParallelIndexBuilds', '10.0.15');
    END IF;
END $EF$;
COMMIT;

START TRANSACTION;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261206022636_UsersAndOwnership') THEN
    ALTER TABLE memories ADD owner_id uuid;
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261206022636_UsersAndOwnership') THEN
    ALTER TABLE conversations ADD owner_id uuid;
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261206022636_UsersAndOwnership') THEN
    CREATE TABLE users (
        id uuid NOT NULL DEFAULT (uuid_generate_v4()),
        username text NOT NULL,
        password_hash text NOT NULL,
        created_at timestamp with time zone NOT NULL DEFAULT (now()),
        updated_at timestamp with time zone NOT NULL DEFAULT (now()),
        CONSTRAINT pk_users PRIMARY KEY (id),
        CONSTRAINT ck_users_username CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,62}$')
    );
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261206022636_UsersAndOwnership') THEN
    CREATE INDEX ix_memories_owner_id ON memories (owner_id);
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261206022636_UsersAndOwnership') THEN
    CREATE INDEX ix_conversations_owner_id_updated_at ON conversations (owner_id, updated_at);
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261206022636_UsersAndOwnership') THEN
    CREATE UNIQUE INDEX ux_users_username ON users (username);
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261206022636_UsersAndOwnership') THEN
    ALTER TABLE conversations ADD CONSTRAINT fk_conversations_users_owner_id FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE;
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261206022636_UsersAndOwnership') THEN
    ALTER TABLE memories ADD CONSTRAINT fk_memories_users_owner_id FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE;
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261206022636_UsersAndOwnership') THEN
    INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
    VALUES ('20261206022636_UsersAndOwnership', '10.0.15');
    END IF;
END $EF$;
COMMIT;

