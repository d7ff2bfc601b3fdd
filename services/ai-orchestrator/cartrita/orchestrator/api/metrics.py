"""GET /metrics: Prometheus text exposition of the app's registry.

Needs ``Authorization: Bearer <METRICS_TOKEN>`` (for a scraper) or ``X-API-Key: <CARTRITA_API_KEY>``: the counters
tell who uses the service how, and the route sits outside the guard's ``/api/*``. Else 401.
"""

from __future__ import annotations

from typing import Mapping, Optional

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..config import Settings
from ..errors import error_response
from ..security import AuthError, check_api_key, same_secret

router = APIRouter(tags=["metrics"])


def refusal(settings: Settings, headers: Mapping[str, str]) -> Optional[str]:
    """Why the caller may not read the metrics (a metrics label), or None."""
    api_key = headers.get("x-api-key")
    if api_key is not None:
        try:
            check_api_key(settings, api_key.strip())
        except AuthError as exc:
            return exc.reason
        return None
    scheme, _, credentials = (headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return "missing"
    token = settings.metrics_token.get_secret_value() if settings.metrics_token is not None else ""
    if not token or not same_secret(credentials.strip(), token):
        return "bad_metrics_token"
    return None


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    state = request.app.state
    reason = refusal(state.settings, request.headers)
    if reason is not None:
        state.metrics.auth_failures.labels(reason).inc()
        return error_response(
            401, "unauthorized", "send 'Authorization: Bearer <METRICS_TOKEN>' or 'X-API-Key: <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    data = generate_latest(state.metrics.registry)
    return Response(content=data, media_type=CONTENT_TYPE_LATEST)
