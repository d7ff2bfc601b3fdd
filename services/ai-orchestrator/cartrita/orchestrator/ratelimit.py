"""Per-client rate limiting in Redis (fixed window).

One counter per client and window: ``INCR`` + ``EXPIRE`` in a MULTI, so
every worker process and replica shares the count. The client is the
authenticated principal (``apikey-<hash>`` for the API key and the tokens
minted from it) or, for the token endpoint, the client address
(``guard.client_ip``: X-Forwarded-For only from TRUSTED_PROXIES or with TRUSTED_PROXY_TOKEN).

:class:`ConnectionSlots` caps what a client holds open at once (WebSockets).

Redis down: the limiter FAILS OPEN (the request is allowed, a warning is
logged at most every 10 s and ``cartrita_orchestrator_rate_limit_errors_total``
counts it). Rate limiting is protection, not a feature: an outage of Redis
should not take the database-backed endpoints down with it. Requests that
need Redis for their own work (chat session state) still answer 503.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Dict, Optional

from redis.exceptions import RedisError

from .cache import Cache

log = logging.getLogger("cartrita.orchestrator.ratelimit")

KEY_PREFIX = "cartrita:orch:rl:"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: Optional[int]  # None when the limiter could not count (fail open)
    retry_after: int  # seconds until the window resets
    reset_at: float


class RateLimiter:
    def __init__(self, cache: Cache, limit: int, window_seconds: int, metrics=None):
        self.cache = cache
        self.limit = limit
        self.window = window_seconds
        self.metrics = metrics
        self._last_warning = 0.0

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def _window(self):
        now = time.time()
        index = int(now // self.window)
        reset_at = (index + 1) * self.window
        return index, reset_at, max(1, math.ceil(reset_at - now))

    async def peek(self, identity: str) -> Decision:
        """Whether ``identity`` may still be counted in this window (fewer than ``limit`` hits so far), without
        counting anything: for a bucket that counts only some requests (failed logins), checked before the work."""
        index, reset_at, retry_after = self._window()
        if not self.enabled:
            return Decision(True, 0, None, retry_after, reset_at)
        client = self.cache.client
        if client is None:
            return self._fail_open("REDIS_URL is not set", retry_after, reset_at)
        try:
            raw = await client.get(f"{KEY_PREFIX}{identity}:{index}")
        except (RedisError, OSError) as exc:
            return self._fail_open(type(exc).__name__, retry_after, reset_at)
        count = int(raw or 0)
        allowed = count < self.limit
        if not allowed and self.metrics is not None:
            self.metrics.rate_limited.inc()
        return Decision(allowed, self.limit, max(0, self.limit - count), retry_after, reset_at)

    async def hit(self, identity: str) -> Decision:
        index, reset_at, retry_after = self._window()
        if not self.enabled:
            return Decision(True, 0, None, retry_after, reset_at)
        client = self.cache.client
        if client is None:
            return self._fail_open("REDIS_URL is not set", retry_after, reset_at)
        key = f"{KEY_PREFIX}{identity}:{index}"
        try:
            async with client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, self.window + 1)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            return self._fail_open(type(exc).__name__, retry_after, reset_at)
        count = int(count)
        allowed = count <= self.limit
        if not allowed and self.metrics is not None:
            self.metrics.rate_limited.inc()
        return Decision(allowed, self.limit, max(0, self.limit - count), retry_after, reset_at)

    def _fail_open(self, why: str, retry_after: int, reset_at: float) -> Decision:
        if self.metrics is not None:
            self.metrics.rate_limit_errors.inc()
        now = time.monotonic()
        if now - self._last_warning > 10.0:
            self._last_warning = now
            log.warning("rate limiter cannot reach redis (%s): allowing requests (fail open)", why)
        return Decision(True, self.limit, None, retry_after, reset_at)


class ConnectionSlots:
    """Open connections per identity, counted in this process (each worker has its own count)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._open: Dict[str, int] = {}

    def acquire(self, identity: str) -> bool:
        count = self._open.get(identity, 0)
        if count >= self.limit:
            return False
        self._open[identity] = count + 1
        return True

    def release(self, identity: str) -> None:
        count = self._open.get(identity, 0) - 1
        if count > 0:
            self._open[identity] = count
        else:
            self._open.pop(identity, None)
