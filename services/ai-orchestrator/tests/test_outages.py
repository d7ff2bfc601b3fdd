"""Redis or PostgreSQL down: 503 with Retry-After (never 500), then recovery."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from apiclient import stream_chat, ws_exchange, ws_url


def assert_503(r: httpx.Response, what: str) -> dict:
    assert r.status_code == 503, (r.status_code, r.text)
    assert int(r.headers["retry-after"]) >= 1
    body = r.json()
    assert body["error"] == "service_unavailable" and what in body["detail"]
    return body


def wait_for_status(fn, status: int, timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = fn()
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def test_redis_down_chat_is_503_and_recovers(api, app, redis_server, key_headers, deps_up):
    before = api.post("/api/chat", json={"message": "before the redis outage"})
    assert before.status_code == 200
    cid = before.json()["conversation_id"]

    redis_server.stop()
    try:
        assert_503(api.post("/api/chat", json={"message": "during the outage"}), "redis")
        assert_503(api.post("/api/chat", json={"message": "again", "conversation_id": cid}), "redis")
        r, _ = stream_chat(api, {"message": "sse during the outage"})
        assert_503(r, "redis")
        out = ws_exchange(ws_url(app.base_url, "/ws/chat"), [({"message": "ws during the outage"}, "done")],
                          headers=key_headers)
        assert out[0][-1]["type"] == "error" and out[0][-1]["error"] == "service_unavailable"
        # endpoints that only use redis as a cache keep working
        assert api.get("/api/agents").status_code == 200
        assert api.get(f"/api/conversations/{cid}").status_code == 200
        assert api.post("/api/memory/search", json={"query": "outage"}).status_code == 200
    finally:
        redis_server.start()

    r = wait_for_status(lambda: api.post("/api/chat", json={"message": "after", "conversation_id": cid}), 200, 10)
    assert r.status_code == 200, r.text
    messages = api.get(f"/api/conversations/{cid}").json()["messages"]
    # nothing was half-stored during the outage: 2 turns, 4 messages
    assert [m["content"] for m in messages if m["role"] == "user"] == ["before the redis outage", "after"]


def test_database_down_is_503_and_recovers(api, postgres, deps_up):
    before = api.post("/api/chat", json={"message": "acknowledged before the database outage"})
    assert before.status_code == 200
    cid = before.json()["conversation_id"]

    postgres.stop()
    try:
        calls = [
            lambda: api.post("/api/chat", json={"message": "during the database outage"}),
            lambda: api.get("/api/conversations"),
            lambda: api.post("/api/memory", json={"content": "not stored"}),
            lambda: stream_chat(api, {"message": "sse during the database outage"})[0],
        ]
        t0 = time.monotonic()
        with ThreadPoolExecutor(len(calls)) as pool:
            responses = list(pool.map(lambda f: f(), calls))
        elapsed = time.monotonic() - t0
        for r in responses:
            assert_503(r, "database")
        assert elapsed < 10, elapsed
    finally:
        postgres.start()

    r = wait_for_status(lambda: api.post("/api/chat", json={"message": "after", "conversation_id": cid}), 200, 15)
    assert r.status_code == 200, r.text
    detail = api.get(f"/api/conversations/{cid}").json()
    # what was acknowledged with 2xx before the outage is still there
    assert detail["messages"][0]["content"] == "acknowledged before the database outage"
    assert detail["messages"][1]["content"] == before.json()["reply"]
    assert len(detail["messages"]) == 4
