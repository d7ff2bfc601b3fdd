"""Many requests at once: more than the Redis and PostgreSQL pools hold."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import httpx
import psycopg

CONCURRENT = 80  # well above the 20 Redis and 5 PostgreSQL connections of one process
TOTAL = 400  # keeps the pools saturated for a few seconds


def test_a_burst_larger_than_the_pools_is_served_and_health_stays_green(app, key_headers, deps_up):
    async def burst():
        limits = httpx.Limits(max_connections=CONCURRENT + 1, max_keepalive_connections=CONCURRENT + 1)
        async with httpx.AsyncClient(base_url=app.base_url, headers=key_headers, timeout=60.0, limits=limits) as c:
            gate = asyncio.Semaphore(CONCURRENT)

            async def chat(i: int) -> httpx.Response:
                async with gate:
                    return await c.post("/api/chat", json={"message": f"concurrency check {i}"})

            chats = asyncio.gather(*(chat(i) for i in range(TOTAL)))
            health = []
            while not chats.done():
                r = await c.get("/health")
                health.append((r.status_code, r.text[:300]))
                await asyncio.sleep(0.1)
            return await chats, health

    responses, health = asyncio.run(burst())
    # redis-py's default pool fails at once with "Too many connections" (503,
    # and /health calls redis down) instead of waiting for a free connection
    assert [(r.status_code, r.text[:200]) for r in responses if r.status_code != 200] == []
    # a busy database pool is not a database outage
    assert health and [h for h in health if h[0] != 200] == []


def test_health_stays_green_while_every_pooled_connection_is_busy(app, key_headers, postgres, deps_up):
    pool_size = 5  # db_pool_max_size
    with psycopg.connect(postgres.superuser_dsn("cartrita")) as locker:
        # every chat turn touches messages: with the table locked, each one holds a pooled connection
        locker.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        with httpx.Client(base_url=app.base_url, headers=key_headers, timeout=30.0) as c, \
                concurrent.futures.ThreadPoolExecutor(pool_size) as workers:
            chats = [workers.submit(c.post, "/api/chat", json={"message": f"held turn {i}"}) for i in range(pool_size)]
            time.sleep(0.5)
            busy = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < 2.5:  # longer than the probe timeout (1 s) and the cache (1 s)
                r = c.get("/health")
                busy.append((r.status_code, r.text[:300]))
                time.sleep(0.2)
            locker.rollback()
            answers = [f.result() for f in chats]
    assert [a.status_code for a in answers] == [200] * pool_size
    # a pool that is busy is not a database that is down
    assert [b for b in busy if b[0] != 200] == []
