"""GET /health: dependency checks (cached ~1 s) and provider configuration."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .. import SERVICE_NAME, __version__

router = APIRouter(tags=["health"])


@router.get("/health", summary="Service and dependency health")
async def health(request: Request) -> JSONResponse:
    state = request.app.state
    report = await state.health.check()
    healthy = report.healthy
    body = {
        "status": "healthy" if healthy else "unhealthy",
        "service": SERVICE_NAME,
        "version": __version__,
        "environment": state.settings.environment,
        "checks": {name: result.as_dict() for name, result in report.checks.items()},
        "providers": state.settings.provider_status(),
    }
    return JSONResponse(
        status_code=200 if healthy else 503,
        content=body,
        headers={"Cache-Control": "no-store"},
    )
