"""SQL for the schema owned by the .NET migration worker (Cartrita.MigrationService).

Tables (snake_case, PostgreSQL 15, extensions ``vector`` and ``uuid-ossp``):
``users``, ``conversations``, ``messages``, ``memories`` (``embedding
vector(1536)``, HNSW index ``ix_memories_embedding`` with
``vector_cosine_ops``), ``api_clients``, ``agents``. This service never
creates or alters tables.

Every function takes an open connection inside a transaction (see
:meth:`cartrita.orchestrator.db.Database.run`). Row ids are generated here
(uuid4) and inserts use ``ON CONFLICT (id) DO NOTHING``, so a unit of work
retried after a connection broke mid-commit cannot store anything twice.

Ownership: every conversation, message and memory query takes ``owner``,
the caller's user id or None for the service's space (API-key callers), and
matches ``owner_id IS NOT DISTINCT FROM owner`` (messages through their
conversation); another owner's row is treated exactly as a missing one.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Dict, List, Optional, Sequence, Tuple

from psycopg import AsyncConnection
from psycopg.errors import ForeignKeyViolation
from psycopg.rows import dict_row

from .errors import ApiError

Owner = Optional[uuid.UUID]

#: The nearest-neighbour query within one owner's space. ``ORDER BY embedding <=> $q LIMIT k`` is the shape the HNSW
#: index (vector_cosine_ops) serves; do not order by an expression of the distance (e.g. ``1 - distance``), that forces
#: a scan. The owner filter is applied inside the index scan (hnsw.iterative_scan, set by search_memories), and stays
#: ``IS NOT DISTINCT FROM``, which no btree serves, so the planner cannot swap the index for "every row of the owner,
#: then sort". Relaxed order can return the k rows slightly out of order: the outer query sorts them.
SEARCH_MEMORIES_SQL = """
WITH nearest AS MATERIALIZED (
    SELECT id, content, metadata, created_at, embedding <=> %(q)s::vector AS distance
    FROM memories
    WHERE owner_id IS NOT DISTINCT FROM %(owner)s
    ORDER BY embedding <=> %(q)s::vector
    LIMIT %(k)s
)
SELECT * FROM nearest ORDER BY distance, id
"""

INSERT_MEMORIES_SQL = """
INSERT INTO memories (id, owner_id, content, metadata, embedding)
SELECT t.id, %s, t.content, t.metadata::jsonb, t.embedding::vector
FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[]) AS t(id, content, metadata, embedding)
ON CONFLICT (id) DO NOTHING
"""


class AccountGone(ApiError):
    """A write for a user deleted since their session or token was issued (the owner's foreign key fails)."""

    status_code = 401
    error = "unauthorized"

    def __init__(self) -> None:
        super().__init__("this account no longer exists; sign in again", headers={"WWW-Authenticate": "Session"})


def owner_is(column: str, owner: Owner) -> str:
    """``column`` matches ``%(owner)s``: the rows of ``IS NOT DISTINCT FROM``, written so that a btree index on
    ``column`` serves it (``= x`` or ``IS NULL``; ``IS NOT DISTINCT FROM`` is never an index condition)."""
    return f"{column} IS NULL" if owner is None else f"{column} = %(owner)s"


def new_id() -> uuid.UUID:
    return uuid.uuid4()


# -- conversations and messages -------------------------------------------------


async def get_conversation(
    conn: AsyncConnection, conversation_id: uuid.UUID, owner: Owner, lock: bool = False
) -> Optional[Dict[str, Any]]:
    sql = ("SELECT id, title, agent, created_at, updated_at FROM conversations "
           "WHERE id = %s AND owner_id IS NOT DISTINCT FROM %s")
    if lock:
        sql += " FOR UPDATE"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, (conversation_id, owner))
        return await cur.fetchone()


async def create_conversation(
    conn: AsyncConnection, conversation_id: uuid.UUID, title: str, agent: str, owner: Owner
) -> None:
    try:
        await conn.execute(
            "INSERT INTO conversations (id, owner_id, title, agent) VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (conversation_id, owner, title, agent),
        )
    except ForeignKeyViolation:
        raise AccountGone() from None


async def touch_conversation(conn: AsyncConnection, conversation_id: uuid.UUID, agent: str, owner: Owner) -> None:
    await conn.execute(
        "UPDATE conversations SET updated_at = now(), agent = %s WHERE id = %s AND owner_id IS NOT DISTINCT FROM %s",
        (agent, conversation_id, owner),
    )


async def delete_conversation(conn: AsyncConnection, conversation_id: uuid.UUID, owner: Owner) -> bool:
    """Whether the owner had it (its messages go with it)."""
    cur = await conn.execute(
        "DELETE FROM conversations WHERE id = %s AND owner_id IS NOT DISTINCT FROM %s", (conversation_id, owner)
    )
    return cur.rowcount > 0


async def insert_message(
    conn: AsyncConnection,
    message_id: uuid.UUID,
    conversation_id: uuid.UUID,
    role: str,
    content: str,
    token_count: int,
    agent: Optional[str],
    provider: Optional[str],
    owner: Owner,
) -> Optional[datetime]:
    """The message's time, or None when the owner has no such conversation (any more)."""
    async with conn.cursor() as cur:
        await cur.execute(
            """
            INSERT INTO messages (id, conversation_id, role, content, token_count, agent, provider)
            SELECT %s, c.id, %s, %s, %s, %s, %s FROM conversations c
            WHERE c.id = %s AND c.owner_id IS NOT DISTINCT FROM %s
            ON CONFLICT (id) DO NOTHING
            """,
            (message_id, role, content, token_count, agent, provider, conversation_id, owner),
        )
        await cur.execute("SELECT created_at FROM messages WHERE id = %s", (message_id,))
        row = await cur.fetchone()
    return row[0] if row else None


async def recent_messages(
    conn: AsyncConnection, conversation_id: uuid.UUID, owner: Owner, limit: int,
    before_id: Optional[uuid.UUID] = None,
) -> List[Dict[str, str]]:
    """The last ``limit`` messages (oldest first), without ``before_id``."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT m.role, m.content FROM messages m
            JOIN conversations c ON c.id = m.conversation_id AND c.owner_id IS NOT DISTINCT FROM %s
            WHERE m.conversation_id = %s AND m.id IS DISTINCT FROM %s
            ORDER BY m.created_at DESC, m.id DESC
            LIMIT %s
            """,
            (owner, conversation_id, before_id, limit),
        )
        rows = await cur.fetchall()
    return [{"role": r["role"], "content": r["content"]} for r in reversed(rows)]


async def list_conversations(conn: AsyncConnection, owner: Owner, limit: int, offset: int) -> List[Dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            SELECT c.id, c.title, c.agent, c.created_at, c.updated_at,
                   (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)::int AS message_count
            FROM conversations c
            WHERE {owner_is("c.owner_id", owner)}
            ORDER BY c.updated_at DESC, c.created_at DESC, c.id DESC
            LIMIT %(limit)s OFFSET %(offset)s
            """,
            {"owner": owner, "limit": limit, "offset": offset},
        )
        return await cur.fetchall()


async def conversation_messages(conn: AsyncConnection, conversation_id: uuid.UUID, owner: Owner) -> List[Dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT m.id, m.role, m.content, m.agent, m.provider, m.created_at
            FROM messages m
            JOIN conversations c ON c.id = m.conversation_id AND c.owner_id IS NOT DISTINCT FROM %s
            WHERE m.conversation_id = %s
            ORDER BY m.created_at, (m.role = 'assistant'), m.id
            """,
            (owner, conversation_id),
        )
        return await cur.fetchall()


# -- memories -------------------------------------------------------------------


async def insert_memories(
    conn: AsyncConnection, items: Sequence[Tuple[uuid.UUID, str, Dict[str, Any], str]], owner: Owner
) -> None:
    """One statement for the whole batch: (id, content, metadata, vector literal)."""
    ids = [i[0] for i in items]
    contents = [i[1] for i in items]
    metadata = [json.dumps(i[2], ensure_ascii=False, allow_nan=False) for i in items]
    vectors = [i[3] for i in items]
    try:
        await conn.execute(INSERT_MEMORIES_SQL, (owner, ids, contents, metadata, vectors))
    except ForeignKeyViolation:
        raise AccountGone() from None


async def list_memories(conn: AsyncConnection, owner: Owner, limit: int, offset: int) -> List[Dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            SELECT id, content, metadata, created_at FROM memories
            WHERE {owner_is("owner_id", owner)}
            ORDER BY created_at DESC, id DESC
            LIMIT %(limit)s OFFSET %(offset)s
            """,
            {"owner": owner, "limit": limit, "offset": offset},
        )
        return await cur.fetchall()


async def delete_memory(conn: AsyncConnection, memory_id: uuid.UUID, owner: Owner) -> bool:
    cur = await conn.execute(
        "DELETE FROM memories WHERE id = %s AND owner_id IS NOT DISTINCT FROM %s", (memory_id, owner)
    )
    return cur.rowcount > 0


#: From this many memories (the planner's estimate; -1 before the first ANALYZE) a search keeps to the HNSW index; below it the planner chooses.
#: It prices a sequential scan by the heap's pages, but the vectors live compressed or out of line (TOAST): at ~25,000
#: local-embedding memories it chose "Seq Scan + top-N sort" (1 s per search, decompressing every vector) over the
#: index (a few ms), and chat under load fell to 16 requests/s (BENCHMARKS.md). At 5,000 it still chose the index; on
#: small tables its sequential scan is cheap and exact, where the approximate index can miss memories that share no
#: word with any other.
SEARCH_INDEX_MIN_ROWS = 5000


async def search_memories(
    conn: AsyncConnection, vector: str, k: int, ef_search: int, owner: Owner,
    index_min_rows: int = SEARCH_INDEX_MIN_ROWS,
) -> List[Dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        # SET LOCAL cannot take a parameter; set_config(..., true) is the same (for this transaction).
        # iterative_scan: the HNSW scan goes on past ef_search candidates until k rows pass the owner filter
        # (pgvector 0.8); without it a user whose memories are not among the ef_search nearest of all gets fewer.
        await cur.execute(
            "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', 'relaxed_order', true),"
            " set_config('enable_seqscan', "
            "CASE WHEN (SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'memories'::regclass) >= %s THEN 'off' ELSE 'on' END,"
            " true)",
            (str(ef_search), index_min_rows),
        )
        await cur.execute(SEARCH_MEMORIES_SQL, {"q": vector, "k": k, "owner": owner})
        return await cur.fetchall()


# -- agents -----------------------------------------------------------------------


async def list_agents(conn: AsyncConnection) -> List[Dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT name, description, enabled FROM agents ORDER BY name")
        return await cur.fetchall()
