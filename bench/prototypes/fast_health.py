"""Proposed fix for GET /health throughput: answer it in front of the middleware stack.

`uvicorn fast_health:app` (with services/ai-orchestrator and bench/prototypes on the path) serves the orchestrator
unchanged, except that GET/HEAD /health is answered by a small ASGI layer outermost: the same HealthMonitor (probe
cached ~1 s, one shared in-flight probe, so it still reflects PostgreSQL and Redis), the same JSON body and status,
`Cache-Control: no-store`, and the same Prometheus request counter and latency histogram. What it skips per request:
PrometheusMiddleware's route matching over every route, ApiGuard, FastAPI's routing, dependency solving and
AsyncExitStack, and re-encoding the JSON: the body is encoded once per probe result (at most once a second).

Port to the service: add this class to cartrita/orchestrator/api/health.py and wrap the app in main.create_app
(`return HealthFastPath(app)` from `_app_from_environment`, or `app.add_middleware(HealthFastPath)` as the last
middleware added, so it runs first).
"""

from __future__ import annotations

import json
import time

from cartrita.orchestrator import SERVICE_NAME, __version__
from cartrita.orchestrator.main import app as orchestrator_app


class HealthFastPath:
    def __init__(self, app) -> None:
        self.app = app
        self._report = None
        self._body = b""
        self._status = 503
        self._children = None

    def _encode(self, state, report) -> None:
        healthy = report.healthy
        body = {
            "status": "healthy" if healthy else "unhealthy",
            "service": SERVICE_NAME,
            "version": __version__,
            "environment": state.settings.environment,
            "checks": {name: result.as_dict() for name, result in report.checks.items()},
            "providers": state.settings.provider_status(),
        }
        self._body = json.dumps(body, separators=(",", ":")).encode()
        self._status = 200 if healthy else 503
        self._report = report

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/health" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        state = self.app.state
        report = await state.health.check()
        if report is not self._report:
            self._encode(state, report)
        status = self._status
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._body)).encode()),
            (b"cache-control", b"no-store"),
        ]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else self._body})
        m = state.metrics
        m.requests.labels(scope["method"], "/health", str(status)).inc()
        m.latency.labels(scope["method"], "/health").observe(time.perf_counter() - start)

    # uvicorn and the lifespan protocol reach the wrapped app through these
    @property
    def state(self):
        return self.app.state

    @property
    def router(self):
        return self.app.router


app = HealthFastPath(orchestrator_app)
