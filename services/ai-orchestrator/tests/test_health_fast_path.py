"""GET/HEAD /health is answered by the outermost ASGI layer (api/health.py HealthFastPath).

The session app is a development app, so CORS is on: a request with a query
string or an ``Origin`` header is handed on to the FastAPI route, which lets
these tests compare the fast path's answer with the route's, byte for byte,
while the real PostgreSQL and Redis go down and come back.
"""

from __future__ import annotations

import subprocess

import httpx

from support import PYTHON, SERVICE_DIR, app_env
from test_outages import wait_for_status
from test_service import metric_samples, poll_health

ROUTE = {"params": {"via": "route"}}  # a query string: the fast path hands the request on


def same_report(client: httpx.Client):
    """(fast path answer, route answer) taken from the same cached probe result."""
    for _ in range(20):
        fast = client.get("/health")
        routed = client.get("/health", **ROUTE)
        if fast.json()["checks"] == routed.json()["checks"]:
            return fast, routed
    raise AssertionError("the fast path and the route never answered from the same probe result")


def assert_identical(fast: httpx.Response, routed: httpx.Response) -> None:
    assert fast.status_code == routed.status_code
    assert fast.content == routed.content
    assert dict(fast.headers) == dict(routed.headers)


def test_the_fast_path_is_the_outermost_layer():
    code = (
        "from cartrita.orchestrator.main import app; "
        "from cartrita.orchestrator.api.health import HealthFastPath; "
        "print(app.user_middleware[0].cls is HealthFastPath, len(app.user_middleware))"
    )
    env = app_env(DATABASE_URL="postgresql://u:p@127.0.0.1:9/x", JWT_SECRET_KEY="j" * 40)
    res = subprocess.run([PYTHON, "-c", code], cwd=SERVICE_DIR, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["True", "3"]  # fast path, metrics, guard (no CORS in production)


def test_fast_path_answers_exactly_like_the_route(client, deps_up):
    poll_health(client, lambda r: r.status_code == 200, timeout=10)
    fast, routed = same_report(client)
    assert fast.status_code == 200
    assert_identical(fast, routed)
    assert fast.headers["cache-control"] == "no-store"
    assert fast.headers["content-type"] == "application/json"
    assert "retry-after" not in fast.headers
    assert fast.json()["checks"]["redis"]["detail"] == "PONG"

    head = client.head("/health")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(fast.content))

    # with an Origin the route answers (the CORS middleware adds its headers), same body
    cors = client.get("/health", headers={"Origin": "http://localhost:3000"})
    assert cors.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert cors.status_code == 200 and set(cors.json()) == set(fast.json())
    assert "access-control-allow-origin" not in fast.headers


def test_fast_path_follows_redis_with_retry_after(client, redis_server, deps_up):
    poll_health(client, lambda r: r.status_code == 200 and "retry-after" not in r.headers, timeout=10)

    redis_server.stop()
    took, r = poll_health(client, lambda r: r.status_code == 503, timeout=5)
    assert took < 2.5, f"503 only after {took:.2f}s"
    assert r.headers["retry-after"] == "5"
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["redis"]["status"] == "error" and body["checks"]["database"]["status"] == "ok"
    fast, routed = same_report(client)
    assert fast.status_code == 503
    assert_identical(fast, routed)
    head = client.head("/health")
    assert head.status_code == 503 and head.headers["retry-after"] == "5" and head.content == b""

    redis_server.start()
    took, r = poll_health(client, lambda r: r.status_code == 200, timeout=10)
    assert took < 5, f"recovered only after {took:.2f}s"
    assert "retry-after" not in r.headers
    assert r.json()["checks"]["redis"]["status"] == "ok"


def test_fast_path_follows_postgres(client, api, postgres, deps_up):
    poll_health(client, lambda r: r.status_code == 200, timeout=10)

    postgres.stop()
    took, r = poll_health(client, lambda r: r.status_code == 503, timeout=5)
    assert took < 2.5, f"503 only after {took:.2f}s"
    assert r.headers["retry-after"] == "5"
    assert r.json()["checks"]["database"]["status"] == "error"
    fast, routed = same_report(client)
    assert_identical(fast, routed)

    postgres.start()
    took, r = poll_health(client, lambda r: r.status_code == 200, timeout=10)
    assert r.json()["checks"]["database"]["status"] == "ok" and "retry-after" not in r.headers
    # the request pool has dropped its connections to the old server before the next test uses it
    assert wait_for_status(lambda: api.get("/api/conversations", params={"limit": 1}), 200, 15).status_code == 200


def _health_counts(api: httpx.Client):
    samples = metric_samples(api.get("/metrics").text)

    def get(name, labels):
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    return {
        "GET": get("cartrita_orchestrator_http_requests_total", {"method": "GET", "route": "/health", "status": "200"}),
        "HEAD": get("cartrita_orchestrator_http_requests_total", {"method": "HEAD", "route": "/health", "status": "200"}),
        "GET_observed": get("cartrita_orchestrator_http_request_duration_seconds_count", {"method": "GET", "route": "/health"}),
        "in_progress": get("cartrita_orchestrator_http_requests_in_progress", {}),
    }


def test_metrics_count_every_fast_path_request(client, api, deps_up):
    poll_health(client, lambda r: r.status_code == 200, timeout=10)
    before = _health_counts(api)
    for _ in range(7):
        assert client.get("/health").status_code == 200
    for _ in range(3):
        assert client.head("/health").status_code == 200
    after = _health_counts(api)
    assert after["GET"] - before["GET"] == 7
    assert after["GET_observed"] - before["GET_observed"] == 7
    assert after["HEAD"] - before["HEAD"] == 3
    assert after["in_progress"] == 1  # only the /metrics request itself: the fast path decremented its gauge
