"""Redis access through ``redis.asyncio`` (redis-py 4.3).

The client connects lazily on first use, so creating it never blocks or
fails start-up; every socket operation is bounded by a short timeout.
"""

from __future__ import annotations

import logging
from typing import Optional

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .config import Settings
from .health import ProbeError

log = logging.getLogger("cartrita.orchestrator.cache")


class Cache:
    def __init__(self, settings: Settings):
        self._settings = settings
        self.client: Optional[aioredis.Redis] = None

    async def start(self) -> None:
        s = self._settings
        if s.redis_url is None:
            log.warning("REDIS_URL is not set: redis is reported as down")
            return
        # A blocking pool: when every connection is busy (many concurrent
        # requests), a command waits up to redis_pool_timeout for one instead
        # of failing at once with "Too many connections" (which redis-py's
        # default pool does, and which would look like Redis being down).
        pool = aioredis.BlockingConnectionPool.from_url(
            s.redis_url.get_secret_value(),
            max_connections=s.redis_max_connections,
            timeout=s.redis_pool_timeout,
            socket_timeout=s.redis_socket_timeout,
            socket_connect_timeout=s.redis_socket_timeout,
            socket_keepalive=True,
            retry_on_timeout=False,
            client_name="cartrita-ai-orchestrator",
        )
        self.client = aioredis.Redis(connection_pool=pool)
        log.info("redis client created for %s", s.redis_url_redacted)

    async def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            try:
                await client.close()
                await client.connection_pool.disconnect()
            except Exception as exc:  # closing must not fail shutdown
                log.warning("error while closing redis client: %s", type(exc).__name__)
            log.info("redis client closed")

    async def probe(self, timeout: float) -> str:
        """``PING``; bounded by the client's socket timeouts (~``timeout``).

        A pooled connection may be stale after a redis restart (redis-py
        drops it on the error); one more attempt is made in that case.
        """
        if self.client is None:
            raise ProbeError("REDIS_URL is not set")
        for attempt in range(2):
            try:
                pong = await self.client.ping()
            except RedisTimeoutError:
                raise
            except RedisConnectionError:
                if attempt == 0:
                    continue
                raise
            if pong is not True:
                raise ProbeError(f"unexpected PING reply {pong!r}")
            return "PONG"
        raise ProbeError("unreachable")  # pragma: no cover
