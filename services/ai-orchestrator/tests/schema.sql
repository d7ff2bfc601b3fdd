-- The schema the .NET migration worker creates (Cartrita.MigrationService,
-- migration 20261125172622_InitialSchema), mirrored for the pytest suite,
-- which does not run the .NET worker. Keep it in step with that migration:
-- same tables, columns, defaults, constraints, index names and seed rows.
--
-- Extensions (vector, uuid-ossp) are created by the test fixture as the
-- superuser before this file runs as the application role.

CREATE TABLE agents (
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    enabled boolean NOT NULL DEFAULT true,
    CONSTRAINT pk_agents PRIMARY KEY (name)
);

CREATE TABLE api_clients (
    id uuid NOT NULL DEFAULT uuid_generate_v4(),
    name text NOT NULL,
    key_hash text NOT NULL,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    last_used_at timestamp with time zone NULL,
    revoked boolean NOT NULL DEFAULT false,
    CONSTRAINT pk_api_clients PRIMARY KEY (id)
);

CREATE TABLE conversations (
    id uuid NOT NULL DEFAULT uuid_generate_v4(),
    title text NOT NULL DEFAULT '',
    agent text NOT NULL DEFAULT 'general',
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    updated_at timestamp with time zone NOT NULL DEFAULT now(),
    CONSTRAINT pk_conversations PRIMARY KEY (id)
);

CREATE TABLE memories (
    id uuid NOT NULL DEFAULT uuid_generate_v4(),
    content text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    embedding vector(1536) NOT NULL,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    updated_at timestamp with time zone NOT NULL DEFAULT now(),
    CONSTRAINT pk_memories PRIMARY KEY (id)
);

CREATE TABLE messages (
    id uuid NOT NULL DEFAULT uuid_generate_v4(),
    conversation_id uuid NOT NULL,
    role text NOT NULL,
    content text NOT NULL,
    token_count integer NOT NULL DEFAULT 0,
    agent text NULL,
    provider text NULL,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    CONSTRAINT pk_messages PRIMARY KEY (id),
    CONSTRAINT ck_messages_role CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    CONSTRAINT fk_messages_conversations_conversation_id FOREIGN KEY (conversation_id)
        REFERENCES conversations (id) ON DELETE CASCADE
);

INSERT INTO agents (name, description, enabled) VALUES
    ('code', 'Writes, explains and reviews code.', true),
    ('general', 'General conversation and task routing.', true),
    ('research', 'Finds, reads and summarises sources.', true);

CREATE UNIQUE INDEX ux_api_clients_name ON api_clients (name);

CREATE INDEX ix_memories_embedding ON memories USING hnsw (embedding vector_cosine_ops)
    WITH (m = 16, ef_construction = 64);

-- Migration 20261125195002_MemoriesParallelIndexBuilds.
ALTER TABLE memories SET (parallel_workers = 2);

CREATE INDEX ix_messages_conversation_id_created_at ON messages (conversation_id, created_at);
