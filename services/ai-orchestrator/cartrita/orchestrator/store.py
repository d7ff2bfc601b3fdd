"""SQL for the schema owned by the .NET migration worker (Cartrita.MigrationService).

Tables (snake_case, PostgreSQL 15, extensions ``vector`` and ``uuid-ossp``):
``conversations``, ``messages``, ``memories`` (``embedding vector(1536)``,
HNSW index ``ix_memories_embedding`` with ``vector_cosine_ops``),
``api_clients``, ``agents``. This service never creates or alters tables.

Every function takes an open connection inside a transaction (see
:meth:`cartrita.orchestrator.db.Database.run`). Row ids are generated here
(uuid4) and inserts use ``ON CONFLICT (id) DO NOTHING``, so a unit of work
retried after a connection broke mid-commit cannot store anything twice.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Dict, List, Optional, Sequence, Tuple

from psycopg import AsyncConnection
from psycopg.rows import dict_row

#: The nearest-neighbour query. ``ORDER BY embedding <=> $q LIMIT k`` is the
#: shape the HNSW index (vector_cosine_ops) serves; do not order by an
#: expression of the distance (e.g. ``1 - distance``), that forces a scan.
SEARCH_MEMORIES_SQL = """
SELECT id, content, metadata, created_at, embedding <=> %(q)s::vector AS distance
FROM memories
ORDER BY embedding <=> %(q)s::vector
LIMIT %(k)s
"""

INSERT_MEMORIES_SQL = """
INSERT INTO memories (id, content, metadata, embedding)
SELECT t.id, t.content, t.metadata::jsonb, t.embedding::vector
FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[]) AS t(id, content, metadata, embedding)
ON CONFLICT (id) DO NOTHING
"""


def new_id() -> uuid.UUID:
    return uuid.uuid4()


# -- conversations and messages -------------------------------------------------


async def get_conversation(conn: AsyncConnection, conversation_id: uuid.UUID, lock: bool = False) -> Optional[Dict[str, Any]]:
    sql = "SELECT id, title, agent, created_at, updated_at FROM conversations WHERE id = %s"
    if lock:
        sql += " FOR UPDATE"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, (conversation_id,))
        return await cur.fetchone()


async def create_conversation(conn: AsyncConnection, conversation_id: uuid.UUID, title: str, agent: str) -> None:
    await conn.execute(
        "INSERT INTO conversations (id, title, agent) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (conversation_id, title, agent),
    )


async def touch_conversation(conn: AsyncConnection, conversation_id: uuid.UUID, agent: str) -> None:
    await conn.execute(
        "UPDATE conversations SET updated_at = now(), agent = %s WHERE id = %s",
        (agent, conversation_id),
    )


async def insert_message(
    conn: AsyncConnection,
    message_id: uuid.UUID,
    conversation_id: uuid.UUID,
    role: str,
    content: str,
    token_count: int,
    agent: Optional[str],
    provider: Optional[str],
) -> datetime:
    async with conn.cursor() as cur:
        await cur.execute(
            """
            INSERT INTO messages (id, conversation_id, role, content, token_count, agent, provider)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (id) DO NOTHING
            """,
            (message_id, conversation_id, role, content, token_count, agent, provider),
        )
        await cur.execute("SELECT created_at FROM messages WHERE id = %s", (message_id,))
        row = await cur.fetchone()
    return row[0]


async def recent_messages(
    conn: AsyncConnection, conversation_id: uuid.UUID, limit: int, before_id: Optional[uuid.UUID] = None
) -> List[Dict[str, str]]:
    """The last ``limit`` messages (oldest first), without ``before_id``."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT role, content FROM messages
            WHERE conversation_id = %s AND id IS DISTINCT FROM %s
            ORDER BY created_at DESC, id DESC
            LIMIT %s
            """,
            (conversation_id, before_id, limit),
        )
        rows = await cur.fetchall()
    return [{"role": r["role"], "content": r["content"]} for r in reversed(rows)]


async def list_conversations(conn: AsyncConnection, limit: int, offset: int) -> List[Dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT c.id, c.title, c.agent, c.created_at, c.updated_at,
                   (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)::int AS message_count
            FROM conversations c
            ORDER BY c.updated_at DESC, c.created_at DESC, c.id DESC
            LIMIT %s OFFSET %s
            """,
            (limit, offset),
        )
        return await cur.fetchall()


async def conversation_messages(conn: AsyncConnection, conversation_id: uuid.UUID) -> List[Dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT id, role, content, agent, provider, created_at
            FROM messages WHERE conversation_id = %s
            ORDER BY created_at, (role = 'assistant'), id
            """,
            (conversation_id,),
        )
        return await cur.fetchall()


# -- memories -------------------------------------------------------------------


async def insert_memories(
    conn: AsyncConnection, items: Sequence[Tuple[uuid.UUID, str, Dict[str, Any], str]]
) -> None:
    """One statement for the whole batch: (id, content, metadata, vector literal)."""
    ids = [i[0] for i in items]
    contents = [i[1] for i in items]
    metadata = [json.dumps(i[2], ensure_ascii=False, allow_nan=False) for i in items]
    vectors = [i[3] for i in items]
    await conn.execute(INSERT_MEMORIES_SQL, (ids, contents, metadata, vectors))


#: From this many memories (the planner's estimate; -1 before the first ANALYZE) a search keeps to the HNSW index; below it the planner chooses.
#: It prices a sequential scan by the heap's pages, but the vectors live compressed or out of line (TOAST): at ~25,000
#: local-embedding memories it chose "Seq Scan + top-N sort" (1 s per search, decompressing every vector) over the
#: index (a few ms), and chat under load fell to 16 requests/s (BENCHMARKS.md). At 5,000 it still chose the index; on
#: small tables its sequential scan is cheap and exact, where the approximate index can miss memories that share no
#: word with any other.
SEARCH_INDEX_MIN_ROWS = 5000


async def search_memories(
    conn: AsyncConnection, vector: str, k: int, ef_search: int, index_min_rows: int = SEARCH_INDEX_MIN_ROWS
) -> List[Dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        # SET LOCAL cannot take a parameter; set_config(..., true) is the same (for this transaction)
        await cur.execute(
            "SELECT set_config('hnsw.ef_search', %s, true), set_config('enable_seqscan', "
            "CASE WHEN (SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'memories'::regclass) >= %s THEN 'off' ELSE 'on' END,"
            " true)",
            (str(ef_search), index_min_rows),
        )
        await cur.execute(SEARCH_MEMORIES_SQL, {"q": vector, "k": k})
        return await cur.fetchall()


# -- agents -----------------------------------------------------------------------


async def list_agents(conn: AsyncConnection) -> List[Dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT name, description, enabled FROM agents ORDER BY name")
        return await cur.fetchall()
