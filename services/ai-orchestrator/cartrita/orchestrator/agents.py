"""The agents the supervisor routes to (table ``agents``) and the routing rules.

Routing is deliberately simple and predictable:

1. an ``agent`` in the request wins (it must exist and be enabled);
2. code words (code, function, bug, python, sql, a ``` fence, ...) -> ``code``;
3. research words (research, find, search, sources, compare, ...) -> ``research``;
4. otherwise the agent that handled the conversation's previous turn (from
   the Redis session), else ``general``.

The list is read from PostgreSQL and cached in Redis for
``agents_cache_ttl_seconds`` (best effort: without Redis it is read from
the database every time).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Dict, List, Optional

from redis.exceptions import RedisError

from . import store
from .cache import Cache
from .db import Database

log = logging.getLogger("cartrita.orchestrator.agents")

DEFAULT_AGENT = "general"
CACHE_KEY = "cartrita:orch:agents:v1"

CODE_WORDS = frozenset(
    """code coding function functions bug bugs debug debugging exception exceptions traceback stacktrace
    compile compiler compiles python javascript typescript java rust golang kotlin csharp c# c++ sql regex
    regexp api endpoint variable refactor script program programming syntax json yaml
    dockerfile git unittest pytest npm pip snippet implement implementation algorithm""".split()
)
RESEARCH_WORDS = frozenset(
    """research find search lookup sources source paper papers study studies compare comparison summarize
    summarise investigate evidence citation citations references literature survey""".split()
)
_TOKEN_RE = re.compile(r"[a-z0-9#+]+")


def route(message: str, enabled: Dict[str, str], previous: Optional[str] = None) -> str:
    text = message.lower()
    words = _TOKEN_RE.findall(text)
    code = sum(1 for w in words if w in CODE_WORDS) + (2 if "```" in text else 0)
    research = sum(1 for w in words if w in RESEARCH_WORDS) + (1 if "look up" in text else 0)
    choice: Optional[str] = None
    if code and code >= research:
        choice = "code"
    elif research:
        choice = "research"
    elif previous:
        choice = previous
    if choice in enabled:
        return choice  # type: ignore[return-value]
    if DEFAULT_AGENT in enabled or not enabled:
        return DEFAULT_AGENT
    return sorted(enabled)[0]


class AgentDirectory:
    def __init__(self, db: Database, cache: Cache, ttl_seconds: int):
        self.db = db
        self.cache = cache
        self.ttl = ttl_seconds

    async def all(self) -> List[Dict[str, object]]:
        cached = await self._cache_get()
        if cached is not None:
            return cached
        rows = await self.db.run(store.list_agents)
        agents = [
            {"name": r["name"], "description": r["description"], "enabled": bool(r["enabled"])} for r in rows
        ]
        await self._cache_set(agents)
        return agents

    async def enabled(self) -> Dict[str, str]:
        return {a["name"]: a["description"] for a in await self.all() if a["enabled"]}  # type: ignore[misc]

    async def _cache_get(self) -> Optional[List[Dict[str, object]]]:
        client = self.cache.client
        if client is None:
            return None
        try:
            raw = await client.get(CACHE_KEY)
        except (RedisError, OSError):
            return None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    async def _cache_set(self, agents: List[Dict[str, object]]) -> None:
        client = self.cache.client
        if client is None:
            return
        try:
            await client.set(CACHE_KEY, json.dumps(agents), ex=self.ttl)
        except (RedisError, OSError):
            pass
