"""Login sessions in Redis.

A session token is 32 random bytes (43 url-safe characters), given to the
client once by ``POST /api/auth/login``. Redis keeps only its SHA-256:
``session:<hex>`` -> the user's id, TTL ``SESSION_TTL_SECONDS``, refreshed
on every use; ``user-sessions:<user id>`` is the set of a user's session
hashes, so that deleting a user or changing a password can end them all
(also from the command line, which has no token).

Redis down: a session cannot be checked, which is an outage (503), not a
refusal (401): the frontend must not send a signed-in user to the login page
because Redis restarted.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from typing import Optional, Tuple

from redis.exceptions import RedisError

from .cache import Cache
from .errors import ServiceUnavailable

log = logging.getLogger("cartrita.orchestrator.sessions")

TOKEN_BYTES = 32
SESSION_PREFIX = "session:"
USER_SESSIONS_PREFIX = "user-sessions:"

# one round trip: read and refresh the session, and keep the user's index alive as long as it
_LOOKUP = """
local user = redis.call('GETEX', KEYS[1], 'EX', ARGV[1])
if user then redis.call('EXPIRE', ARGV[2] .. user, ARGV[1]) end
return user
"""


def session_key(token: str) -> str:
    return SESSION_PREFIX + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def user_sessions_key(user_id: uuid.UUID) -> str:
    return f"{USER_SESSIONS_PREFIX}{user_id}"


async def revoke_user_sessions(client, user_id: uuid.UUID) -> int:
    """End every session of a user (a redis.asyncio client); how many there were."""
    index = user_sessions_key(user_id)
    hashes = await client.smembers(index)
    keys = [SESSION_PREFIX + h.decode() for h in hashes]
    async with client.pipeline(transaction=True) as pipe:
        if keys:
            pipe.delete(*keys)
        pipe.delete(index)
        results = await pipe.execute()
    return int(results[0]) if keys else 0


class LoginSessions:
    def __init__(self, cache: Cache, ttl_seconds: int, retry_after: int):
        self.cache = cache
        self.ttl = ttl_seconds
        self.retry_after = retry_after

    def _client(self):
        if self.cache.client is None:
            raise self._unavailable()
        return self.cache.client

    def _unavailable(self) -> ServiceUnavailable:
        return ServiceUnavailable("redis is unavailable (login sessions live there); try again shortly", self.retry_after)

    async def create(self, user_id: uuid.UUID) -> Tuple[str, int]:
        """A new session for the user: (token, seconds it lasts unused)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        key = session_key(token)
        index = user_sessions_key(user_id)
        try:
            async with self._client().pipeline(transaction=True) as pipe:
                pipe.set(key, str(user_id), ex=self.ttl)
                pipe.sadd(index, key[len(SESSION_PREFIX):])
                pipe.expire(index, self.ttl)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("could not store a login session: %s", type(exc).__name__)
            raise self._unavailable() from None
        return token, self.ttl

    async def lookup(self, token: str) -> Optional[uuid.UUID]:
        """The user of a live session (its lifetime starts again), or None."""
        try:
            value = await self._client().eval(_LOOKUP, 1, session_key(token), self.ttl, USER_SESSIONS_PREFIX)
        except (RedisError, OSError) as exc:
            log.warning("could not check a login session: %s", type(exc).__name__)
            raise self._unavailable() from None
        if value is None:
            return None
        try:
            return uuid.UUID(value.decode())
        except ValueError:
            return None

    async def revoke(self, token: str, user_id: Optional[uuid.UUID]) -> None:
        key = session_key(token)
        try:
            async with self._client().pipeline(transaction=True) as pipe:
                pipe.delete(key)
                if user_id is not None:
                    pipe.srem(user_sessions_key(user_id), key[len(SESSION_PREFIX):])
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("could not end a login session: %s", type(exc).__name__)
            raise self._unavailable() from None

    async def revoke_user(self, user_id: uuid.UUID) -> int:
        try:
            return await revoke_user_sessions(self._client(), user_id)
        except (RedisError, OSError) as exc:
            log.warning("could not end a user's sessions: %s", type(exc).__name__)
            raise self._unavailable() from None
