"""PostgreSQL access: a small psycopg async pool that never blocks start-up.

The pool is opened with ``wait=False``: connections are made in the
background, so the service starts (and reports 503) while the database is
down, and picks the database up again when it returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Optional, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .config import Settings
from .health import ProbeError, describe_error

log = logging.getLogger("cartrita.orchestrator.db")

APPLICATION_NAME = "cartrita-ai-orchestrator"

T = TypeVar("T")


class _ConnectTracker:
    """Remembers the last connection failure, to explain a pool timeout."""

    def __init__(self) -> None:
        self.last_error: Optional[str] = None
        self.last_error_at: float = 0.0

    def failed(self, exc: BaseException) -> None:
        self.last_error = describe_error(exc)
        self.last_error_at = time.monotonic()

    def succeeded(self) -> None:
        self.last_error = None


def _connection_class(tracker: _ConnectTracker) -> type:
    class TrackedAsyncConnection(psycopg.AsyncConnection):  # type: ignore[type-arg]
        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any):  # type: ignore[override]
            try:
                conn = await super().connect(conninfo, **kwargs)
            except Exception as exc:
                tracker.failed(exc)
                raise
            tracker.succeeded()
            return conn

    return TrackedAsyncConnection


class Database:
    def __init__(self, settings: Settings):
        self._settings = settings
        self._tracker = _ConnectTracker()
        self.pool: Optional[AsyncConnectionPool] = None
        # the health probe's own connection (see probe())
        self._probe_conn: Optional[psycopg.AsyncConnection] = None
        self._probe_lock = asyncio.Lock()

    def _connect_kwargs(self) -> Dict[str, Any]:
        return {
            "application_name": APPLICATION_NAME,
            "connect_timeout": self._settings.db_connect_timeout,
            # let the kernel notice a dead peer instead of hanging forever
            "keepalives": 1,
            "keepalives_idle": 15,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": 15000,
        }

    async def start(self) -> None:
        s = self._settings
        self.pool = AsyncConnectionPool(
            s.database_url.get_secret_value(),
            kwargs=self._connect_kwargs(),
            connection_class=_connection_class(self._tracker),
            min_size=s.db_pool_min_size,
            max_size=s.db_pool_max_size,
            open=False,
            name="orchestrator-db",
            timeout=10.0,
            reconnect_timeout=s.db_reconnect_timeout,
        )
        await self.pool.open(wait=False)
        log.info(
            "database pool opening in background for %s (min=%d max=%d)",
            s.database_url_redacted,
            s.db_pool_min_size,
            s.db_pool_max_size,
        )

    async def close(self) -> None:
        if self._probe_conn is not None:
            conn, self._probe_conn = self._probe_conn, None
            try:
                await conn.close()
            except Exception as exc:  # closing must not fail shutdown
                log.warning("error while closing the probe connection: %s", type(exc).__name__)
        if self.pool is not None:
            pool, self.pool = self.pool, None
            await pool.close(timeout=5.0)
            log.info("database pool closed")

    @asynccontextmanager
    async def connection(self, timeout: Optional[float] = None) -> AsyncIterator[psycopg.AsyncConnection]:
        if self.pool is None:
            raise RuntimeError("database pool is not started")
        async with self.pool.connection(timeout=timeout) as conn:
            yield conn

    async def run(self, work: Callable[[psycopg.AsyncConnection], Awaitable[T]], timeout: Optional[float] = None) -> T:
        """Run ``work(conn)`` in one transaction on a pooled connection.

        Waits at most ``timeout`` (default ``db_request_timeout``) for a
        connection: a database that is down surfaces as ``PoolTimeout``,
        which the error handlers answer with 503 + Retry-After. A pooled
        connection that turns out to be broken (the server restarted) is
        dropped by the pool and the work is retried once on another; units of
        work are written to be safe to repeat (client-side ids, ``ON
        CONFLICT DO NOTHING``).
        """
        if self.pool is None:
            raise RuntimeError("database pool is not started")
        timeout = self._settings.db_request_timeout if timeout is None else timeout
        for attempt in range(2):
            conn: Optional[psycopg.AsyncConnection] = None
            try:
                async with self.pool.connection(timeout=timeout) as conn:
                    async with conn.transaction():
                        return await work(conn)
            except PoolTimeout:
                raise
            except psycopg.OperationalError:
                if attempt == 0 and conn is not None and (conn.broken or conn.closed):
                    log.info("database connection was broken; retrying once on a fresh one")
                    continue
                raise
        raise RuntimeError("unreachable")  # pragma: no cover

    async def probe(self, timeout: float) -> str:
        """``SELECT 1`` on the probe's own connection, bounded by ``timeout`` seconds.

        Not through the pool: under load every pooled connection may be busy
        for longer than the probe's timeout, and a saturated pool is busy, not
        down (/health must not turn red, nor an orchestrator take the service
        out of rotation, because of traffic). The connection is kept between
        probes; when it is broken (the database restarted) one fresh
        connection is tried within the same time budget.
        """
        if self.pool is None:
            raise ProbeError("database pool is not started")
        deadline = time.monotonic() + timeout
        async with self._probe_lock:
            last_exc: Optional[BaseException] = None
            for _attempt in range(2):
                if time.monotonic() >= deadline:
                    break
                conn = self._probe_conn
                try:
                    if conn is None or conn.closed or conn.broken:
                        self._probe_conn = None
                        if conn is not None:
                            await conn.close()
                        conn = await psycopg.AsyncConnection.connect(
                            self._settings.database_url.get_secret_value(), autocommit=True, **self._connect_kwargs()
                        )
                        self._probe_conn = conn
                    cur = await conn.execute("SELECT 1")
                    row = await cur.fetchone()
                    if not row or row[0] != 1:
                        raise ProbeError(f"SELECT 1 returned {row!r}")
                    return "SELECT 1 ok"
                except psycopg.OperationalError as exc:  # refused, or a broken connection: retry once
                    last_exc = exc
                    continue
            if last_exc is not None:
                raise last_exc
            raise ProbeError(f"no answer within {timeout:g}s")
