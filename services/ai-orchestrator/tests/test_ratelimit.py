"""Per-client rate limiting in Redis, on an app with a small limit."""

from __future__ import annotations

import secrets

import httpx
import pytest

from apiclient import ws_first_frame, ws_url
from support import AppProcess

LIMIT = 5
#: a key of its own: counters live in the shared redis, and the session app
#: has already spent far more than LIMIT requests with the session key
RL_KEY = "rlKey" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def key_headers():
    return {"X-API-Key": RL_KEY}


@pytest.fixture(scope="module")
def limited_app(service_env, workdir, postgres, redis_server):
    env = dict(service_env, RATE_LIMIT_REQUESTS=str(LIMIT), RATE_LIMIT_WINDOW_SECONDS="60", CARTRITA_API_KEY=RL_KEY)
    proc = AppProcess(env, workdir, name="app-ratelimited")
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


def _until_429(c: httpx.Client, method: str, path: str, **kwargs) -> tuple:
    """Requests until the first 429 (a window boundary may reset the count once)."""
    statuses = []
    for _ in range(2 * LIMIT + 2):
        r = c.request(method, path, **kwargs)
        statuses.append(r.status_code)
        if r.status_code == 429:
            return statuses, r
    raise AssertionError(f"no 429 after {statuses}")


def test_rate_limit_per_client(limited_app, key_headers, seen, deps_up):
    with httpx.Client(base_url=limited_app.base_url, timeout=10.0, headers=key_headers) as c:
        first = c.get("/api/agents")
        assert first.status_code == 200
        assert first.headers["x-ratelimit-limit"] == str(LIMIT)
        assert int(first.headers["x-ratelimit-remaining"]) < LIMIT

        statuses, r = _until_429(c, "GET", "/api/agents")
        assert set(statuses[:-1]) == {200}
        seen.bodies.append(r.text)
        assert r.headers["content-type"].startswith("application/json")
        retry_after = int(r.headers["retry-after"])
        assert 1 <= retry_after <= 60
        body = r.json()
        assert body["error"] == "rate_limited" and "retry" in body["detail"] and body["retry_after"] == retry_after

        # the same client with a bearer token minted from the same key shares the budget;
        # the token endpoint itself is limited per IP, in a separate bucket
        tok = c.post("/api/auth/token")
        assert tok.status_code == 200, tok.text
        bearer = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        r = httpx.get(f"{limited_app.base_url}/api/conversations", headers=bearer, timeout=10.0)
        assert r.status_code == 429

        # a WebSocket of a limited client is told so and closed
        frame, code = ws_first_frame(ws_url(limited_app.base_url, "/ws/chat"), headers=key_headers)
        assert frame["type"] == "error" and frame["error"] == "rate_limited" and code == 4429

        # /health and /metrics are never limited
        for _ in range(LIMIT + 2):
            assert c.get("/health").status_code == 200
        metrics = c.get("/metrics").text
        assert "cartrita_orchestrator_rate_limited_requests_total" in metrics

    # the token endpoint (unauthenticated) is limited by client IP
    with httpx.Client(base_url=limited_app.base_url, timeout=10.0) as anon:
        statuses, r = _until_429(anon, "POST", "/api/auth/token", headers={"X-API-Key": "wrong"})
        assert set(statuses[:-1]) == {401}
        assert int(r.headers["retry-after"]) >= 1


def test_rate_limiter_fails_open_when_redis_is_down(limited_app, redis_server, deps_up, key_headers):
    # the key is over its limit (previous test), but with redis down nothing is counted
    redis_server.stop()
    try:
        with httpx.Client(base_url=limited_app.base_url, timeout=10.0, headers=key_headers) as c:
            for _ in range(LIMIT + 2):
                r = c.get("/api/agents")
                assert r.status_code == 200, r.text
                assert "x-ratelimit-remaining" not in r.headers
            # ...while chat, which needs redis for its session state, is 503
            r = c.post("/api/chat", json={"message": "hi"})
            assert r.status_code == 503 and r.headers["retry-after"]
    finally:
        redis_server.start()
    assert "allowing requests (fail open)" in limited_app.output()
