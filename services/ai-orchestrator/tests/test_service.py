"""The real service (uvicorn subprocess) against real PostgreSQL and Redis.

Tests run in file order; the outage tests restart the shared servers and
``deps_up`` guarantees the next test finds them running again. The leak
check runs last so that it covers every log line written before it.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cartrita.orchestrator import __version__
from support import SERVICE_DIR, AppProcess, app_env, uvicorn_argv, free_port

HEALTH_KEYS = {"status", "service", "version", "environment", "checks", "providers"}
CHECK_KEYS = {"status", "latency_ms", "detail"}


def poll_health(client: httpx.Client, predicate, timeout: float, interval: float = 0.05):
    """Poll /health until predicate(response) holds; return (seconds, response)."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        last = client.get("/health")
        if predicate(last):
            return time.monotonic() - start, last
        time.sleep(interval)
    raise AssertionError(
        f"/health did not reach the expected state within {timeout}s; last: "
        f"{last.status_code if last else None} {last.text if last else ''}"
    )


def metric_samples(text: str):
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def probe_count(api: httpx.Client, dependency: str) -> float:
    samples = metric_samples(api.get("/metrics").text)
    return sum(
        v
        for (name, labels), v in samples.items()
        if name == "cartrita_orchestrator_dependency_probes_total" and ("dependency", dependency) in labels
    )


# ---------------------------------------------------------------------------


def test_health_ok_with_real_dependencies(client, deps_up):
    _, r = poll_health(client, lambda r: r.status_code == 200, timeout=10)
    body = r.json()
    assert set(body) == HEALTH_KEYS
    assert body["status"] == "healthy"
    assert body["service"] == "ai-orchestrator"
    assert body["version"] == __version__
    assert body["environment"] == "development"
    assert set(body["checks"]) == {"database", "redis"}
    for name, check in body["checks"].items():
        assert set(check) == CHECK_KEYS, name
        assert check["status"] == "ok", check
        assert isinstance(check["latency_ms"], (int, float)) and 0 <= check["latency_ms"] < 1500
    assert body["checks"]["database"]["detail"] == "SELECT 1 ok"
    assert body["checks"]["redis"]["detail"] == "PONG"
    assert body["providers"] == {"openai": "not configured", "anthropic": "not configured", "deepgram": "not configured"}
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"


def test_errors_are_json(client):
    r = client.get("/no/such/route")
    assert r.status_code == 404
    assert r.json() == {"error": "not_found", "detail": "no route for GET /no/such/route"}

    # development (the session app): docs are served
    assert client.get("/openapi.json").status_code == 200

    r = client.post("/health")
    assert r.status_code == 405
    assert r.json()["error"] == "method_not_allowed"
    assert "GET" in r.headers.get("allow", "")


def test_metrics_exposes_prometheus_text(client, key_headers, deps_up):
    client.get("/health")
    client.get("/definitely-missing")
    r = client.get("/metrics", headers=key_headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "version=0.0.4" in r.headers["content-type"]
    samples = metric_samples(r.text)  # raises if the format is broken
    health_ok = samples.get(
        ("cartrita_orchestrator_http_requests_total", (("method", "GET"), ("route", "/health"), ("status", "200")))
    )
    assert health_ok is not None and health_ok >= 1
    missing = samples.get(
        ("cartrita_orchestrator_http_requests_total", (("method", "GET"), ("route", "<unmatched>"), ("status", "404")))
    )
    assert missing is not None and missing >= 1
    assert samples[("cartrita_orchestrator_dependency_up", (("dependency", "database"),))] == 1.0
    assert samples[("cartrita_orchestrator_dependency_up", (("dependency", "redis"),))] == 1.0
    assert any(name == "cartrita_orchestrator_http_request_duration_seconds_bucket" for name, _ in samples)
    assert ("process_resident_memory_bytes", ()) in samples
    assert samples[("cartrita_orchestrator_build_info", (("environment", "development"), ("version", __version__)))] == 1.0


def test_health_probe_is_cached_and_shared(client, api, app, deps_up):
    poll_health(client, lambda r: r.status_code == 200, timeout=10)
    time.sleep(1.1)  # let the cached result expire so the burst triggers a probe
    before = probe_count(api, "database")

    async def burst(n: int):
        async with httpx.AsyncClient(base_url=app.base_url, timeout=5.0) as ac:
            return await asyncio.gather(*(ac.get("/health") for _ in range(n)))

    t0 = time.monotonic()
    responses = asyncio.run(burst(40))
    elapsed = time.monotonic() - t0
    assert all(r.status_code == 200 for r in responses)
    after = probe_count(api, "database")
    # 40 concurrent callers share one in-flight probe (two if the burst
    # straddles the cache expiry)
    assert 1 <= after - before <= 2 + int(elapsed), (before, after, elapsed)

    # hard polling for ~1.5 s costs only a couple of probes
    before = probe_count(api, "redis")
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 1.5:
        assert client.get("/health").status_code == 200
        n += 1
    after = probe_count(api, "redis")
    assert n > 20
    assert after - before <= 3, (n, before, after)


def test_redis_outage_is_reported_and_recovers(client, redis_server, deps_up):
    poll_health(client, lambda r: r.status_code == 200, timeout=10)

    redis_server.stop()
    took, r = poll_health(client, lambda r: r.status_code == 503, timeout=5)
    print(f"redis stopped -> 503 after {took:.2f}s")
    assert took < 2.5, f"503 only after {took:.2f}s"
    body = r.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["redis"]["status"] == "error"
    assert body["checks"]["redis"]["detail"]  # says why
    assert body["checks"]["database"]["status"] == "ok"

    redis_server.start()
    took, r = poll_health(client, lambda r: r.status_code == 200, timeout=10)
    print(f"redis started -> 200 after {took:.2f}s")
    assert r.json()["checks"]["redis"]["status"] == "ok"
    assert took < 5, f"recovered only after {took:.2f}s"


def test_postgres_outage_is_reported_and_recovers(client, postgres, deps_up):
    poll_health(client, lambda r: r.status_code == 200, timeout=10)

    postgres.stop()
    took, r = poll_health(client, lambda r: r.status_code == 503, timeout=5)
    print(f"postgres stopped -> 503 after {took:.2f}s")
    assert took < 2.5, f"503 only after {took:.2f}s"
    body = r.json()
    assert body["checks"]["database"]["status"] == "error"
    assert body["checks"]["database"]["detail"]
    assert body["checks"]["redis"]["status"] == "ok"
    # still failing a little later (not a one-off), and it stays fast
    time.sleep(1.5)
    r = client.get("/health")
    assert r.status_code == 503 and r.json()["checks"]["database"]["latency_ms"] < 2000

    postgres.start()
    took, r = poll_health(client, lambda r: r.status_code == 200, timeout=10)
    print(f"postgres started -> 200 after {took:.2f}s")
    assert r.json()["checks"]["database"]["status"] == "ok"
    assert took < 6, f"recovered only after {took:.2f}s"


def test_starts_and_answers_503_while_dependencies_are_down(workdir, sentinels, seen):
    # nothing listens on these ports: the service must still start
    env = app_env(
        DATABASE_URL=f"postgresql://cartrita_app:{sentinels.db_password}@127.0.0.1:{free_port()}/cartrita",
        REDIS_URL=f"redis://:{sentinels.redis_password}@127.0.0.1:{free_port()}/0",
        JWT_SECRET_KEY=sentinels.jwt_secret,
    )
    proc = AppProcess(env, workdir, name="app-deps-down")
    try:
        t0 = time.monotonic()
        proc.start(timeout=15)
        assert time.monotonic() - t0 < 10
        with httpx.Client(base_url=proc.base_url, timeout=5.0) as c:
            r = c.get("/health")
            seen.bodies.append(r.text)
            assert r.status_code == 503
            body = r.json()
            assert body["environment"] == "production"
            assert body["checks"]["database"]["status"] == "error"
            assert body["checks"]["redis"]["status"] == "error"
            assert body["providers"] == {"openai": "not configured", "anthropic": "not configured", "deepgram": "not configured"}
            # production: no interactive docs
            assert c.get("/docs").status_code == 404
            assert c.get("/openapi.json").status_code == 404
    finally:
        rc = proc.stop()
    assert rc == 0, "graceful shutdown with dependencies down should exit 0"
    for secret in (sentinels.db_password, sentinels.redis_password, sentinels.jwt_secret):
        assert secret not in proc.output()


def test_wrong_passwords_are_reported_without_leaking(workdir, postgres, redis_server, deps_up, seen):
    wrong_db = "wrongPgSentinel" + str(time.time_ns())
    wrong_redis = "wrongRdSentinel" + str(time.time_ns())
    env = app_env(
        DATABASE_URL=f"postgresql://cartrita_app:{wrong_db}@127.0.0.1:{postgres.port}/cartrita",
        REDIS_URL=f"redis://:{wrong_redis}@127.0.0.1:{redis_server.port}/0",
        JWT_SECRET_KEY="k" * 40,
    )
    proc = AppProcess(env, workdir, name="app-wrong-passwords")
    try:
        proc.start(timeout=15)
        with httpx.Client(base_url=proc.base_url, timeout=5.0) as c:
            time.sleep(0.3)
            r = c.get("/health")
            seen.bodies.append(r.text)
    finally:
        proc.stop()
    assert r.status_code == 503
    body = r.json()
    assert "password authentication failed" in body["checks"]["database"]["detail"]
    assert body["checks"]["redis"]["status"] == "error"
    output = proc.output()
    assert "password authentication failed" in output  # the pool logged the failure...
    for secret in (wrong_db, wrong_redis, "k" * 40):  # ...but no secret
        assert secret not in output
        assert secret not in r.text


@pytest.mark.parametrize(
    "overrides, variable",
    [
        ({"JWT_SECRET_KEY": "too-short-secret"}, "JWT_SECRET_KEY"),
        ({"DATABASE_URL": None}, "DATABASE_URL"),
    ],
)
def test_startup_is_refused_for_bad_configuration(overrides, variable, sentinels):
    values = {
        "DATABASE_URL": f"postgresql://cartrita_app:{sentinels.db_password}@127.0.0.1:{free_port()}/cartrita",
        "REDIS_URL": f"redis://:{sentinels.redis_password}@127.0.0.1:{free_port()}/0",
        "JWT_SECRET_KEY": sentinels.jwt_secret,
    }
    values.update(overrides)
    res = subprocess.run(
        uvicorn_argv(free_port()),
        cwd=SERVICE_DIR,
        env=app_env(**values),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=20,
    )
    stderr = res.stderr.decode(errors="replace")
    stdout = res.stdout.decode(errors="replace")
    assert res.returncode == 78, (res.returncode, stdout, stderr)
    assert f"{variable} is" in stderr
    assert "refusing to start" in stderr
    assert "Traceback" not in stderr
    assert "Uvicorn running" not in stdout + stderr
    for secret in (sentinels.db_password, sentinels.redis_password, "too-short-secret"):
        assert secret not in stdout + stderr


def test_logs_are_json_lines(app):
    lines = [line for line in app.stdout_path.read_text().splitlines() if line.strip()]
    assert len(lines) > 20
    for line in lines:
        record = json.loads(line)
        assert {"ts", "level", "logger", "msg"} <= set(record), line


def test_nothing_answered_500(client, key_headers):
    """Across the whole session (bad input, outages, provider failures): never a 500."""
    samples = metric_samples(client.get("/metrics", headers=key_headers).text)
    five_hundreds = [
        labels for (name, labels), v in samples.items()
        if name == "cartrita_orchestrator_http_requests_total" and ("status", "500") in labels and v
    ]
    assert five_hundreds == []


def test_no_secret_in_any_output_or_response(app, client, key_headers, sentinels, seen):
    """Runs last: the app's whole log (incl. both outages) and every body seen."""
    client.get("/health")
    client.get("/metrics", headers=key_headers)
    output = app.output()
    assert "Uvicorn running" in output  # we are looking at the right log
    assert "dependency database is DOWN" in output  # the outage was logged
    assert "cartrita_app:***@127.0.0.1" in output  # URLs are logged redacted
    assert len(seen.bodies) > 50
    for secret in sentinels.all():
        assert secret not in output, "secret leaked into the service output"
        for body in seen.bodies:
            assert secret not in body, "secret leaked into a response body"
    # no bearer token either (EventSource / WebSocket requests carry one in the query)
    assert not re.search(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ", output)

