"""Sign-in and tokens: POST /api/auth/login, /api/auth/logout, /api/auth/token; GET /api/auth/me.

Login answers the same 401 for an unknown user and a wrong password, after
the same scrypt work (:func:`~..passwords.verify_dummy`), so neither the
answer nor its time tells which usernames exist. It is limited
(LOGIN_RATE_LIMIT_REQUESTS per RATE_LIMIT_WINDOW_SECONDS) per client address,
counting every attempt, and per username, counting only FAILED attempts: a
username whose failures have used up the window is refused (429) before its
password is checked, so guessing stays bounded, while its owner's correct
password from an address within its own limit still signs in however many
times others (or the owner) signed in or tried other names.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from .. import users
from ..errors import ApiError, error_response
from ..guard import client_ip
from ..models import LoginRequest, TokenRequest, normalize_username, parse_json, parse_model
from ..passwords import verify, verify_dummy
from ..security import AuthError, Principal, check_api_key, check_session, issue_token, split_authorization

log = logging.getLogger("cartrita.orchestrator.api.auth")

router = APIRouter(tags=["auth"])

NO_STORE = {"Cache-Control": "no-store"}
BAD_LOGIN = "invalid username or password"


def _unauthorized(detail: str, scheme: str = "Bearer") -> JSONResponse:
    return error_response(401, "unauthorized", detail, headers={"WWW-Authenticate": scheme})


async def _json_object(request: Request, shape: str) -> Dict[str, Any]:
    """The body as a JSON object ({} when empty): 400 when it is not JSON, 422 when it is not an object."""
    body = await request.body()
    if not body.strip():
        return {}
    data = parse_json(body)
    if not isinstance(data, dict):
        raise ApiError(f"the request body must be a JSON object {shape}", status_code=422, error="validation_error")
    return data


async def _login_limit(request: Request, identity: str, count: bool = True) -> None:
    """429 when ``identity``'s bucket is used up; ``count``: this attempt counts (else only look)."""
    limiter = request.app.state.login_limiter
    decision = await (limiter.hit(identity) if count else limiter.peek(identity))
    if not decision.allowed:
        raise ApiError(
            f"too many sign-in attempts: at most {decision.limit} per {limiter.window} s; "
            f"retry in {decision.retry_after} s",
            status_code=429, error="rate_limited", headers={"Retry-After": str(decision.retry_after)},
            extra={"retry_after": decision.retry_after},
        )


@router.post("/api/auth/login", summary="Sign in with a username and password: a session token",
             responses={401: {"description": "invalid username or password"}, 429: {"description": "too many attempts"}})
async def login(request: Request, req: LoginRequest) -> JSONResponse:
    state = request.app.state
    username = normalize_username(req.username)
    await _login_limit(request, "login:ip:" + client_ip(request.scope))
    # failures per username: a name that can never exist still gets a bucket of its own (bounded: LoginRequest
    # caps its length); only looked at here, counted below when the password is wrong
    failures = "login:user:" + (username or req.username.strip().lower())
    await _login_limit(request, failures, count=False)

    user = await state.db.run(lambda conn: users.find_by_name(conn, username)) if username else None
    if user is None:
        await asyncio.to_thread(verify_dummy)
        ok = False
    else:
        ok = await asyncio.to_thread(verify, req.password, user["password_hash"])
    if not ok:
        state.metrics.auth_failures.labels("bad_login").inc()
        # counted, not enforced: this attempt has had its answer; the next one sees the bucket used up
        await request.app.state.login_limiter.hit(failures)
        return _unauthorized(BAD_LOGIN, "Session")
    token, ttl = await state.sessions.create(user["id"])
    log.info("user %s signed in", user["username"])
    return JSONResponse(
        {"session_token": token, "token_type": "session", "expires_in": ttl,
         "user": {"id": str(user["id"]), "username": user["username"]}},
        headers=NO_STORE,
    )


@router.post("/api/auth/logout", status_code=204, summary="End the login session sent as 'Authorization: Session'")
async def logout(request: Request) -> Response:
    principal: Principal = request.state.principal
    if principal.method != "session":
        raise ApiError("sign-out ends a login session: send 'Authorization: Session <token>'")
    _scheme, session_token = split_authorization(request.headers)
    await request.app.state.sessions.revoke(session_token, principal.user_id)
    return Response(status_code=204, headers=NO_STORE)


@router.get("/api/auth/me", summary="The signed-in user (a session or a user's token)")
async def me(request: Request) -> JSONResponse:
    principal: Principal = request.state.principal
    if principal.user_id is None:
        raise ApiError("the API key is not a user: sign in (POST /api/auth/login) to have one", status_code=403,
                       error="forbidden")
    user = await request.app.state.db.run(lambda conn: users.find_by_id(conn, principal.user_id))
    if user is None:  # deleted since the session or token was issued
        return _unauthorized("this account no longer exists; sign in again", "Session")
    return JSONResponse({"user": {"id": str(user["id"]), "username": user["username"]}}, headers=NO_STORE)


@router.post(
    "/api/auth/token",
    summary="A bearer token: for a session ('Authorization: Session') a user's, for the API key (X-API-Key header "
            "or JSON {api_key}) the service's; {\"purpose\": \"ws\"} makes it a 60-second token for a /ws/ URL",
    # documented by hand: the body is optional, so it is read below only when there is one (a body parameter would
    # be parsed, and could fail, before the headers are looked at)
    openapi_extra={"requestBody": {"required": False,
                                   "content": {"application/json": {"schema": TokenRequest.schema()}}}},
)
async def token(request: Request) -> JSONResponse:
    state = request.app.state
    settings = state.settings
    req = parse_model(TokenRequest, await _json_object(request, '{"api_key": ..., "purpose": "ws"}'))
    websocket = req.purpose == "ws"
    try:
        authorization = split_authorization(request.headers)
        presented = request.headers.get("x-api-key", req.api_key)
        if authorization is not None and authorization[0] == "session":
            principal = await check_session(state.sessions, authorization[1])
        elif presented is None:
            if authorization is not None:  # a token must not renew itself past its expiry
                raise AuthError("a bearer token cannot be exchanged: send a login session or the API key", "bad_header")
            state.metrics.auth_failures.labels("missing").inc()
            return _unauthorized("send a login session ('Authorization: Session <token>'), or the API key in the "
                                 "X-API-Key header or as JSON {\"api_key\": \"...\"}")
        else:
            if settings.api_key is None:
                raise ApiError(
                    "API key authentication is not configured on this server: set CARTRITA_API_KEY",
                    status_code=503, error="auth_not_configured",
                )
            principal = check_api_key(settings, presented.strip())
    except AuthError as exc:
        state.metrics.auth_failures.labels(exc.reason).inc()
        return _unauthorized(exc.detail)
    access_token, ttl = issue_token(settings, principal.subject, websocket=websocket)
    return JSONResponse({"access_token": access_token, "token_type": "bearer", "expires_in": ttl}, headers=NO_STORE)
