"""One chat turn, shared by POST /api/chat, the SSE stream and the WebSocket.

:meth:`ChatService.begin` does everything that can fail with a clear status
before any reply is produced:

1. loads the session state from Redis (required: Redis down -> 503),
2. resolves the agent (request > keyword rules > the session's last agent),
3. in one transaction: finds the conversation (404) or creates it (title from
   the first message), stores the user message, reads the recent history,
4. embeds the message and takes the top memories (pgvector cosine through
   the HNSW index) as context; a failure here only costs the context.

Then the provider produces the reply (:meth:`reply` or :meth:`stream`) and
:meth:`finish` stores it (second transaction) and updates the session. The
store runs shielded from cancellation: a client that disconnects after the
last token still gets its reply persisted.

Session state (Redis, TTL ``session_ttl_seconds``):
``cartrita:orch:session:conv:<conversation id>`` -> {agent, provider, turns, last_at}
(the agent of the previous turn keeps a follow-up on the same agent) and
``cartrita:orch:session:client:<principal>`` -> {conversation_id, agent, last_at}
(the client's last conversation).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, AsyncIterator, Dict, List, Optional

from redis.exceptions import RedisError

from . import store
from .agents import AgentDirectory, route
from .cache import Cache
from .config import Settings
from .db import Database
from .embeddings import EmbeddingService, vector_literal
from .errors import InvalidInput, NotFound, ServiceUnavailable
from .models import ChatRequest
from .providers import ChatContext, ChatProvider, Memory, Usage, estimate_tokens

log = logging.getLogger("cartrita.orchestrator.chat")

SESSION_PREFIX = "cartrita:orch:session:"
TITLE_CHARS = 80


def make_title(message: str) -> str:
    text = " ".join(message.split())
    if len(text) <= TITLE_CHARS:
        return text
    return text[: TITLE_CHARS - 1].rstrip() + "\u2026"


def iso(ts: datetime) -> str:
    return ts.isoformat()


@dataclass
class Turn:
    conversation_id: uuid.UUID
    user_message_id: uuid.UUID
    agent: str
    provider: str
    model: str
    principal: str
    #: the user whose conversation it is (None: the service's space)
    owner: Optional[uuid.UUID]
    mode: str
    ctx: ChatContext
    session: Dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)


@dataclass
class Reply:
    message_id: uuid.UUID
    text: str
    model: str
    created_at: datetime
    usage: Usage


class SessionStore:
    def __init__(self, cache: Cache, ttl_seconds: int, retry_after: int):
        self.cache = cache
        self.ttl = ttl_seconds
        self.retry_after = retry_after

    def _unavailable(self) -> ServiceUnavailable:
        return ServiceUnavailable(
            "redis is unavailable (chat keeps its session state there); try again shortly", self.retry_after
        )

    async def load(self, principal: str, conversation_id: Optional[uuid.UUID]) -> Dict[str, Any]:
        client = self.cache.client
        if client is None:
            raise self._unavailable()
        conv_key = f"{SESSION_PREFIX}conv:{conversation_id}" if conversation_id else None
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.hgetall(f"{SESSION_PREFIX}client:{principal}")
                if conv_key:
                    pipe.hgetall(conv_key)
                results = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("chat session state unavailable: %s", type(exc).__name__)
            raise self._unavailable() from None
        conv = results[1] if conv_key else {}
        return {k.decode(): v.decode() for k, v in (conv or {}).items()}

    async def save(self, turn: Turn) -> None:
        client = self.cache.client
        if client is None:
            return
        now = str(int(time.time()))
        conv_key = f"{SESSION_PREFIX}conv:{turn.conversation_id}"
        client_key = f"{SESSION_PREFIX}client:{turn.principal}"
        try:
            async with client.pipeline(transaction=True) as pipe:
                pipe.hset(conv_key, mapping={"agent": turn.agent, "provider": turn.provider, "last_at": now})
                pipe.hincrby(conv_key, "turns", 1)
                pipe.expire(conv_key, self.ttl)
                pipe.hset(
                    client_key,
                    mapping={"conversation_id": str(turn.conversation_id), "agent": turn.agent, "last_at": now},
                )
                pipe.expire(client_key, self.ttl)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            # the turn is already stored in PostgreSQL; only the agent stickiness is lost
            log.warning("could not save chat session state: %s", type(exc).__name__)


class ChatService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        cache: Cache,
        provider: ChatProvider,
        embeddings: EmbeddingService,
        agents: AgentDirectory,
        metrics,
    ):
        self.settings = settings
        self.db = db
        self.provider = provider
        self.embeddings = embeddings
        self.agents = agents
        self.metrics = metrics
        self.sessions = SessionStore(cache, settings.session_ttl_seconds, settings.retry_after_seconds)

    # -- phase 1 ----------------------------------------------------------------

    async def begin(self, req: ChatRequest, principal: str, mode: str, owner: Optional[uuid.UUID]) -> Turn:
        session = await self.sessions.load(principal, req.conversation_id)
        enabled = await self.agents.enabled()
        if req.agent is not None:
            if req.agent not in enabled:
                known = ", ".join(sorted(enabled)) or "none"
                raise InvalidInput(f"unknown or disabled agent {req.agent!r} (enabled: {known})")
            agent = req.agent
        else:
            agent = route(req.message, enabled, session.get("agent"))

        is_new = req.conversation_id is None
        # ids are fixed before the transaction, so a retried attempt reuses them
        conversation_id = store.new_id() if is_new else req.conversation_id
        user_message_id = store.new_id()
        token_count = estimate_tokens(req.message)
        history_limit = self.settings.chat_history_messages

        async def store_user_message(conn) -> List[Dict[str, str]]:
            if is_new:
                await store.create_conversation(conn, conversation_id, make_title(req.message), agent, owner)
            elif await store.get_conversation(conn, conversation_id, owner, lock=True) is None:
                raise NotFound(f"conversation {conversation_id} not found")
            await store.insert_message(
                conn, user_message_id, conversation_id, "user", req.message, token_count, None, None, owner
            )
            await store.touch_conversation(conn, conversation_id, agent, owner)
            return await store.recent_messages(conn, conversation_id, owner, history_limit, before_id=user_message_id)

        history = await self.db.run(store_user_message)
        self.metrics.chat_tokens.labels(self.provider.name, "prompt").inc(token_count)

        memories = await self._memories(req.message, owner)
        ctx = ChatContext(
            agent=agent,
            system_prompt=system_prompt(agent, enabled.get(agent, ""), memories),
            message=req.message,
            history=history,
            memories=memories,
        )
        return Turn(
            conversation_id=conversation_id,
            user_message_id=user_message_id,
            agent=agent,
            provider=self.provider.name,
            model=self.provider.model,
            principal=principal,
            owner=owner,
            mode=mode,
            ctx=ctx,
            session=session,
        )

    async def _memories(self, message: str, owner: Optional[uuid.UUID]) -> List[Memory]:
        s = self.settings
        if s.chat_memory_k <= 0:
            return []
        try:
            vec = vector_literal(await self.embeddings.embed_query(message))
            k = s.chat_memory_k
            rows = await self.db.run(
                lambda conn: store.search_memories(conn, vec, k, s.memory_ef_search_for(k, chat=True), owner)
            )
        except Exception as exc:  # the memory context is optional
            self.metrics.memory_operations.labels("chat_context", "error").inc()
            log.warning("chat continues without memories: %s", type(exc).__name__)
            return []
        self.metrics.memory_operations.labels("chat_context", "ok").inc()
        out = []
        for r in rows:
            score = 1.0 - float(r["distance"])
            if score >= s.chat_memory_min_score:
                out.append(Memory(str(r["id"]), r["content"], round(score, 6)))
        return out

    # -- phase 2 ----------------------------------------------------------------

    async def reply(self, turn: Turn) -> Reply:
        try:
            result = await self.provider.complete(turn.ctx)
            return await self.finish(turn, result.text, result.usage, result.model)
        except BaseException:
            self._count(turn, "error")
            raise

    async def stream(self, turn: Turn, usage: Usage) -> AsyncIterator[str]:
        async for piece in self.provider.stream(turn.ctx, usage):
            yield piece

    async def finish(self, turn: Turn, text: str, usage: Usage, model: Optional[str] = None) -> Reply:
        """Store the reply (shielded from cancellation) and update the session."""
        task = asyncio.ensure_future(self._finish(turn, text, usage, model or turn.model))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            raise

    async def _finish(self, turn: Turn, text: str, usage: Usage, model: str) -> Reply:
        message_id = store.new_id()
        completion_tokens = usage.completion_tokens or estimate_tokens(text)

        async def store_reply(conn) -> datetime:
            created = await store.insert_message(
                conn, message_id, turn.conversation_id, "assistant", text, completion_tokens,
                turn.agent, turn.provider, turn.owner,
            )
            if created is None:  # deleted while the reply was produced
                raise NotFound(f"conversation {turn.conversation_id} not found")
            await store.touch_conversation(conn, turn.conversation_id, turn.agent, turn.owner)
            return created

        created_at = await self.db.run(store_reply)
        await self.sessions.save(turn)
        self.metrics.chat_tokens.labels(turn.provider, "completion").inc(completion_tokens)
        self._count(turn, "ok")
        log.info(
            "chat turn stored (mode=%s agent=%s provider=%s tokens=%d, %.0f ms)",
            turn.mode, turn.agent, turn.provider, completion_tokens, (time.monotonic() - turn.started) * 1000,
        )
        return Reply(message_id, text, model, created_at, usage)

    def _count(self, turn: Turn, outcome: str) -> None:
        self.metrics.chats.labels(turn.mode, turn.provider, outcome).inc()

    def count_error(self, turn: Turn) -> None:
        """For callers that stream: a turn that failed after :meth:`begin`."""
        self._count(turn, "error")


def system_prompt(agent: str, description: str, memories: List[Memory]) -> str:
    lines = [
        f"You are Cartrita's {agent} agent." + (f" {description}" if description else ""),
        "Answer helpfully and concisely.",
    ]
    if memories:
        lines.append("Relevant long-term memories (most similar first):")
        lines += [f"- {m.content}" for m in memories]
    return "\n".join(lines)


def memories_payload(turn: Turn) -> List[Dict[str, Any]]:
    return [{"id": m.id, "content": m.content, "score": m.score} for m in turn.ctx.memories]


def reply_payload(turn: Turn, reply: Reply) -> Dict[str, Any]:
    return {
        "conversation_id": str(turn.conversation_id),
        "message_id": str(reply.message_id),
        "reply": reply.text,
        "agent": turn.agent,
        "provider": turn.provider,
        "model": reply.model,
        "memories_used": memories_payload(turn),
        "created_at": iso(reply.created_at),
    }


def dumps(data: Dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
