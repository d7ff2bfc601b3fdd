"""Who is calling: a signed-in user, or the service (the API key).

* ``Authorization: Session <token>``: a user's login session
  (:mod:`.sessions`, from ``POST /api/auth/login``).
* ``Authorization: Bearer <jwt>``: HS256, signed with ``JWT_SECRET_KEY``,
  issued by ``POST /api/auth/token``; only HS256 is accepted, so ``alg:
  none``, other algorithms, bad signatures and expired tokens are refused.
  ``sub`` is ``user:<uuid>`` (a user's token, minted from a session) or
  ``apikey-<hash prefix>`` (the service's, minted from the API key).
* ``X-API-Key: <CARTRITA_API_KEY>`` (compared in constant time): the service.
* ``?token=<jwt>`` only on ``/ws/*`` (a browser cannot send headers with a
  WebSocket) and only a token with ``aud: "ws"``, which lives 60 s and is
  refused everywhere else, so a URL that ends up in a log or history holds
  nothing reusable. The API key and session tokens never come from a URL.

A user's principal carries ``user_id``: their conversations and memories
are theirs (:mod:`.store`). Every client of the API key (directly or through
a token minted from it) is one principal, ``apikey-<hash prefix>``, with
``user_id`` None: the service's space. The rate limiter counts per principal.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

import jwt

from .config import Settings

#: where ``?token=<jwt>`` is accepted (the browser's WebSocket), and the audience such a token must have
QUERY_TOKEN_PATH = "/ws/"
WS_AUDIENCE = "ws"
WS_TOKEN_TTL_SECONDS = 60

USER_SUBJECT_PREFIX = "user:"
SERVICE_SUBJECT_PREFIX = "apikey-"

JWT_ALGORITHM = "HS256"

_MISSING = (
    "authentication required: send 'Authorization: Session <token>' (POST /api/auth/login), "
    "'Authorization: Bearer <token>' (POST /api/auth/token) or 'X-API-Key: <key>'"
)


class AuthError(Exception):
    """Authentication failed; the message is safe to return to the client."""

    def __init__(self, detail: str, reason: str):
        super().__init__(detail)
        self.detail = detail
        self.reason = reason  # short label for the metrics


@dataclass(frozen=True)
class Principal:
    subject: str
    method: str  # "api_key" | "jwt" | "session"
    #: the signed-in user; None for the service (API-key callers)
    user_id: Optional[uuid.UUID] = None


def user_subject(user_id: uuid.UUID) -> str:
    return f"{USER_SUBJECT_PREFIX}{user_id}"


def owner_of(connection) -> Optional[uuid.UUID]:
    """The user id whose data a request or WebSocket may touch (None: the service's space)."""
    principal = getattr(connection.state, "principal", None)
    return principal.user_id if principal is not None else None


def _digest(value: str) -> bytes:
    # surrogatepass: any str encodes, so a key sent as JSON "\\ud800" is just a wrong key (401), not a 500
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def same_secret(presented: str, expected: str) -> bool:
    """Whether ``presented`` is ``expected``: fixed-length digests compared in constant time, so neither the
    position of the first difference nor the length leaks."""
    return hmac.compare_digest(_digest(presented), _digest(expected))


def api_key_subject(api_key: str) -> str:
    return SERVICE_SUBJECT_PREFIX + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]


def check_api_key(settings: Settings, presented: str) -> Principal:
    expected = settings.api_key
    if expected is None:
        raise AuthError(
            "API key authentication is not configured on this server (set CARTRITA_API_KEY)",
            "not_configured",
        )
    if not same_secret(presented, expected):
        raise AuthError("invalid API key", "bad_key")
    return Principal(api_key_subject(expected), "api_key")


def issue_token(settings: Settings, subject: str, websocket: bool = False) -> Tuple[str, int]:
    """A JWT for ``subject``; ``websocket``: the short-lived kind for a ``/ws/`` URL."""
    now = int(time.time())
    ttl = WS_TOKEN_TTL_SECONDS if websocket else settings.jwt_ttl_seconds
    claims = {"sub": subject, "iat": now, "exp": now + ttl, "iss": settings.jwt_issuer}
    if websocket:
        claims["aud"] = WS_AUDIENCE
    token = jwt.encode(claims, settings.jwt_secret_key.get_secret_value(), algorithm=JWT_ALGORITHM)
    return token, ttl


def verify_token(settings: Settings, token: str, websocket: bool = False) -> Principal:
    """The principal of a JWT; ``websocket``: one from a ``/ws/`` URL, which must have ``aud: "ws"`` (any other
    token must have no audience)."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret_key.get_secret_value(),
            algorithms=[JWT_ALGORITHM],
            issuer=settings.jwt_issuer,
            audience=WS_AUDIENCE if websocket else None,
            options={"require": ["exp", "iat", "sub"] + (["aud"] if websocket else [])},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("the token has expired; request a new one from POST /api/auth/token", "expired") from None
    except jwt.InvalidAlgorithmError:
        raise AuthError("invalid token: the algorithm is not allowed (HS256 only)", "bad_algorithm") from None
    except jwt.InvalidSignatureError:
        raise AuthError("invalid token: bad signature", "bad_signature") from None
    except jwt.MissingRequiredClaimError as exc:
        if exc.claim == "aud":
            raise AuthError(_WS_ONLY, "bad_audience") from None
        raise AuthError(f"invalid token: missing claim {exc.claim!r}", "bad_token") from None
    except jwt.InvalidAudienceError:
        if websocket:
            raise AuthError(_WS_ONLY, "bad_audience") from None
        raise AuthError("invalid token: a WebSocket token is accepted only in a /ws/ URL", "bad_audience") from None
    except jwt.PyJWTError:
        raise AuthError("invalid token", "bad_token") from None
    sub = claims.get("sub")
    if isinstance(sub, str) and sub.startswith(USER_SUBJECT_PREFIX):
        try:
            return Principal(sub, "jwt", uuid.UUID(sub[len(USER_SUBJECT_PREFIX):]))
        except ValueError:
            pass
    elif isinstance(sub, str) and sub.startswith(SERVICE_SUBJECT_PREFIX):
        return Principal(sub, "jwt")
    raise AuthError("invalid token: bad subject", "bad_token")


_WS_ONLY = 'a token in the URL must be a WebSocket token (POST /api/auth/token with {"purpose": "ws"})'


def split_authorization(headers: Mapping[str, str]) -> Optional[Tuple[str, str]]:
    """(lower-case scheme, credentials) of the Authorization header, None without one, AuthError when malformed."""
    authorization = headers.get("authorization")
    if authorization is None:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if scheme not in ("bearer", "session") or not credentials:
        raise AuthError("the Authorization header must be 'Session <token>' or 'Bearer <token>'", "bad_header")
    return scheme, credentials


async def check_session(sessions, token: str) -> Principal:
    """The user of a login session (:class:`~.sessions.LoginSessions`), or AuthError."""
    user_id = await sessions.lookup(token)
    if user_id is None:
        raise AuthError("the session has ended or is not valid; sign in again (POST /api/auth/login)", "bad_session")
    return Principal(user_subject(user_id), "session", user_id)


async def authenticate(
    settings: Settings,
    sessions,
    path: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
) -> Principal:
    """The caller's principal, or :class:`AuthError` (a session check may raise ServiceUnavailable: Redis down).

    ``headers`` must have lower-case names.
    """
    api_key = headers.get("x-api-key")
    if api_key is not None:
        return check_api_key(settings, api_key.strip())
    authorization = split_authorization(headers)
    if authorization is not None:
        scheme, credentials = authorization
        if scheme == "session":
            return await check_session(sessions, credentials)
        return verify_token(settings, credentials)
    token = query.get("token")
    if token is not None and path.startswith(QUERY_TOKEN_PATH):
        return verify_token(settings, token.strip(), websocket=True)
    raise AuthError(_MISSING, "missing")
