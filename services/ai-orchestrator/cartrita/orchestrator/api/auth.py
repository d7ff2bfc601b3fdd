"""POST /api/auth/token: exchange the API key for a short-lived JWT."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..errors import ApiError, error_response
from ..models import TokenRequest, parse_json, parse_model
from ..security import AuthError, check_api_key, issue_token

router = APIRouter(tags=["auth"])


@router.post(
    "/api/auth/token",
    summary="Exchange the API key (X-API-Key header or JSON {api_key}) for a bearer token",
    # documented by hand: the body is optional and ignored when the header is sent, so it is read below only
    # then (a body parameter would be parsed, and could fail, before the header is looked at)
    openapi_extra={"requestBody": {"required": False,
                                   "content": {"application/json": {"schema": TokenRequest.schema()}}}},
)
async def token(request: Request) -> JSONResponse:
    state = request.app.state
    settings = state.settings
    if settings.api_key is None:
        raise ApiError(
            "API key authentication is not configured on this server: set CARTRITA_API_KEY",
            status_code=503,
            error="auth_not_configured",
        )
    presented = request.headers.get("x-api-key")
    if presented is None:
        body = await request.body()
        if body.strip():
            data = parse_json(body)
            if not isinstance(data, dict):
                raise ApiError("the request body must be a JSON object {\"api_key\": ...}", status_code=422,
                               error="validation_error")
            presented = parse_model(TokenRequest, data).api_key
    if presented is None:
        state.metrics.auth_failures.labels("missing").inc()
        return error_response(
            401, "unauthorized", "send the API key in the X-API-Key header or as JSON {\"api_key\": \"...\"}",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        principal = check_api_key(settings, presented.strip())
    except AuthError as exc:
        state.metrics.auth_failures.labels(exc.reason).inc()
        return error_response(401, "unauthorized", exc.detail, headers={"WWW-Authenticate": "Bearer"})
    access_token, ttl = issue_token(settings, principal.subject)
    return JSONResponse(
        {"access_token": access_token, "token_type": "bearer", "expires_in": ttl},
        headers={"Cache-Control": "no-store"},
    )
