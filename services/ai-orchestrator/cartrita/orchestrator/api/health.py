"""GET /health: dependency checks (cached ~1 s) and provider configuration.

Two ways in, one answer. :class:`HealthFastPath` is the outermost ASGI
layer (the last ``add_middleware`` in ``create_app``): it answers
``GET``/``HEAD /health`` itself, skipping the metrics middleware's route
matching, CORS, the guard, FastAPI's routing and dependency solving, which
made /health cost ~1.8x a bare FastAPI handler. The route below answers
what the fast path hands on: requests with a query string (the guard checks
its encoding) or an ``Origin`` header while CORS is configured (the CORS
middleware adds its headers). Both take the report from the same
:class:`~cartrita.orchestrator.health.HealthMonitor` (1 s cache, one shared
in-flight probe) and the bytes from the same :class:`HealthAnswer`, which
encodes a report once, so the body, status and headers are identical and
the JSON is re-encoded only when the probe result changes.
"""

from __future__ import annotations

import json
import time
from typing import Dict, List, Optional, Tuple

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import SERVICE_NAME, __version__
from ..health import HealthReport

router = APIRouter(tags=["health"])

PATH = "/health"
_METHODS = ("GET", "HEAD")


class HealthAnswer:
    """Status, body and headers of /health for a report, encoded once per report."""

    def __init__(self, state) -> None:
        self._state = state
        self._report: Optional[HealthReport] = None
        self.status = 503
        self.body = b""
        self.headers: Dict[str, str] = {}
        self.raw_headers: List[Tuple[bytes, bytes]] = []

    def update(self, report: HealthReport) -> "HealthAnswer":
        if report is self._report:
            return self
        settings = self._state.settings
        healthy = report.healthy
        content = {
            "status": "healthy" if healthy else "unhealthy",
            "service": SERVICE_NAME,
            "version": __version__,
            "environment": settings.environment,
            "checks": {name: result.as_dict() for name, result in report.checks.items()},
            "providers": settings.provider_status(),
        }
        # byte for byte what fastapi.responses.JSONResponse renders
        self.body = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode(
            "utf-8"
        )
        self.status = 200 if healthy else 503
        self.headers = {"Cache-Control": "no-store"}
        if not healthy:  # like every other 503 of the service: when to look again
            self.headers["Retry-After"] = str(settings.retry_after_seconds)
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()] + [
            (b"content-length", str(len(self.body)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]
        self._report = report
        return self


@router.api_route(PATH, methods=list(_METHODS), summary="Service and dependency health")
async def health(request: Request) -> Response:
    state = request.app.state
    answer = state.health_answer.update(await state.health.check())
    return Response(
        content=answer.body, status_code=answer.status, headers=answer.headers, media_type="application/json"
    )


class HealthFastPath:
    """Answers ``GET``/``HEAD /health`` in front of the middleware stack, and counts it like the metrics middleware."""

    def __init__(self, app: ASGIApp, state) -> None:
        self.app = app
        self.state = state
        # an Origin header gets CORS headers from the CORSMiddleware further in
        self._hand_on_origin = bool(state.settings.cors_allow_origins)

    def _mine(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] not in _METHODS:
            return False
        if scope.get("query_string"):
            return False
        if self._hand_on_origin:
            for name, _value in scope["headers"]:
                if name == b"origin":
                    return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._mine(scope):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        state = self.state
        m = state.metrics
        status = 500
        start = time.perf_counter()
        m.in_progress.inc()
        try:
            answer = state.health_answer.update(await state.health.check())
            status = answer.status
            await send({"type": "http.response.start", "status": status, "headers": answer.raw_headers})
            await send({"type": "http.response.body", "body": b"" if method == "HEAD" else answer.body})
        finally:
            m.request_done(method, PATH, status, start)
