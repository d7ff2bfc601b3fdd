"""Every error leaves the service as JSON ``{"error": ..., "detail": ...}``.

Route code raises :class:`ApiError` (or one of its subclasses) for expected
failures; dependency outages (PostgreSQL pool timeouts and broken
connections, Redis connection errors) are turned into 503 with
``Retry-After`` here, so no handler needs to catch them itself. Validation
errors are reshaped into the same body; they never echo the request body
(it may hold a credential).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, Dict, List, Optional

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .logging_setup import scrubber

log = logging.getLogger("cartrita.orchestrator.errors")

DEFAULT_RETRY_AFTER = 5


def error_code(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def error_body(error: str, detail: Any, **extra: Any) -> Dict[str, Any]:
    body = {"error": error, "detail": jsonable_encoder(detail)}
    body.update(jsonable_encoder(extra))
    return body


def error_response(status_code: int, error: str, detail: Any, headers=None, **extra: Any) -> JSONResponse:
    return JSONResponse(
        status_code=status_code,
        content=error_body(error, detail, **extra),
        headers=headers,
    )


class ApiError(Exception):
    """An expected failure with its HTTP status and ``{error, detail}`` body."""

    status_code = 400
    error = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        status_code: Optional[int] = None,
        error: Optional[str] = None,
        headers: Optional[Dict[str, str]] = None,
        extra: Optional[Dict[str, Any]] = None,
    ):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code
        if error is not None:
            self.error = error
        self.headers = headers or {}

    def body(self) -> Dict[str, Any]:
        return error_body(self.error, self.detail, **self.extra)

    def response(self) -> JSONResponse:
        return JSONResponse(status_code=self.status_code, content=self.body(), headers=self.headers or None)


class NotFound(ApiError):
    status_code = 404
    error = "not_found"


class InvalidInput(ApiError):
    status_code = 422
    error = "validation_error"


class InvalidJson(ApiError):
    """A body or WebSocket frame that is not UTF-8 JSON, or nests deeper than the decoder recurses."""

    status_code = 400
    error = "invalid_json"


#: what InvalidJson says of JSON nested too deeply (json.loads raises RecursionError)
NESTED_TOO_DEEPLY = "is nested too deeply (JSON arrays and objects inside each other)"


class ServiceUnavailable(ApiError):
    """A dependency (database, redis) is down: 503 with Retry-After."""

    status_code = 503
    error = "service_unavailable"

    def __init__(self, detail: str, retry_after: int = DEFAULT_RETRY_AFTER):
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, extra={"retry_after": retry_after})
        self.retry_after = retry_after


class ProviderError(ApiError):
    """A model provider failed (after retries): 502."""

    status_code = 502
    error = "provider_error"


def dependency_error(exc: BaseException, retry_after: int = DEFAULT_RETRY_AFTER) -> Optional[ServiceUnavailable]:
    """The 503 for an exception that means a dependency is down, else None."""
    if isinstance(exc, ServiceUnavailable):
        return exc
    if isinstance(exc, PoolTimeout):
        return ServiceUnavailable("the database is unavailable, try again shortly", retry_after)
    if isinstance(exc, psycopg.OperationalError):
        return ServiceUnavailable("the database is unavailable, try again shortly", retry_after)
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return ServiceUnavailable("redis is unavailable, try again shortly", retry_after)
    if isinstance(exc, RedisError) and "NOAUTH" in str(exc).upper():
        return ServiceUnavailable("redis is unavailable, try again shortly", retry_after)
    return None


def _retry_after(request: Request) -> int:
    settings = getattr(request.app.state, "settings", None)
    return getattr(settings, "retry_after_seconds", DEFAULT_RETRY_AFTER)


async def http_exception_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail: Any = exc.detail
    if exc.status_code == 404 and detail == HTTPStatus.NOT_FOUND.phrase:
        detail = f"no route for {request.method} {request.url.path}"
    elif exc.status_code == 400 and detail == "There was an error parsing the body":
        # FastAPI's answer to a body it cannot decode: invalid UTF-8, or JSON nested deeper than json.loads recurses
        if isinstance(exc.__cause__, RecursionError):
            return InvalidJson(f"the request body {NESTED_TOO_DEEPLY}").response()
        return error_response(400, "invalid_body", "the request body could not be decoded as UTF-8 JSON")
    return error_response(
        exc.status_code, error_code(exc.status_code), detail, getattr(exc, "headers", None)
    )


def describe_validation_errors(errors: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """``loc``/``msg``/``type`` only: ``ctx`` may carry the request body."""
    out = []
    for e in errors:
        out.append(
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": scrubber(str(e.get("msg", ""))),
                "type": str(e.get("type", "")),
            }
        )
    return out


def _summary(errors: List[Dict[str, Any]]) -> str:
    parts = []
    for e in errors:
        loc = [p for p in e["loc"] if p not in ("body", "query", "path", "header")] or e["loc"]
        parts.append(f"{'.'.join(loc)}: {e['msg']}")
    return "; ".join(parts) or "invalid request"


async def validation_exception_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = describe_validation_errors(exc.errors())
    if any(e["type"] == "value_error.jsondecode" for e in errors):
        where = errors[0]
        return error_response(400, "invalid_json", f"the request body is not valid JSON ({where['msg']})")
    return error_response(422, "validation_error", _summary(errors), errors=errors)


async def api_error_handler(request: Request, exc: ApiError) -> JSONResponse:
    return exc.response()


async def unhandled_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    unavailable = dependency_error(exc, _retry_after(request))
    if unavailable is not None:
        log.warning(
            "%s %s: dependency unavailable (%s)", request.method, request.url.path, type(exc).__name__
        )
        return unavailable.response()
    log.error(
        "unhandled error on %s %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
    )  # the server logs the traceback itself (Starlette re-raises it)
    return error_response(500, "internal_error", "an unexpected error occurred")


async def dependency_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    unavailable = dependency_error(exc, _retry_after(request))
    if unavailable is None:  # pragma: no cover - registered for dependency errors only
        return await unhandled_exception_handler(request, exc)
    log.warning("%s %s: dependency unavailable (%s)", request.method, request.url.path, type(exc).__name__)
    return unavailable.response()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    app.add_exception_handler(RequestValidationError, validation_exception_handler)
    app.add_exception_handler(ApiError, api_error_handler)
    # dependency outages are handled by ExceptionMiddleware (not re-raised, so
    # no traceback in the log for an expected 503)
    for exc_type in (PoolTimeout, psycopg.OperationalError, RedisConnectionError, RedisTimeoutError):
        app.add_exception_handler(exc_type, dependency_exception_handler)
    app.add_exception_handler(Exception, unhandled_exception_handler)
