"""API key and JWT authentication.

* ``X-API-Key: <CARTRITA_API_KEY>`` (compared in constant time), or
* ``Authorization: Bearer <jwt>``: HS256, signed with ``JWT_SECRET_KEY``,
  issued by ``POST /api/auth/token``; only HS256 is accepted, so ``alg:
  none``, other algorithms, bad signatures and expired tokens are refused.
* ``?token=<jwt>`` in the query, only on the streaming endpoints (EventSource
  and WebSocket cannot send headers from a browser). The API key is never
  accepted from a query string.

Every client that authenticates with the same API key (directly or through
a token minted from it) is the same *principal*, ``apikey-<hash prefix>``;
the rate limiter counts per principal.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Mapping, Tuple

import jwt

from .config import Settings

#: paths where ``?token=<jwt>`` is accepted (browser streaming clients)
QUERY_TOKEN_PATHS = ("/api/chat/stream", "/ws/")

JWT_ALGORITHM = "HS256"


class AuthError(Exception):
    """Authentication failed; the message is safe to return to the client."""

    def __init__(self, detail: str, reason: str):
        super().__init__(detail)
        self.detail = detail
        self.reason = reason  # short label for the metrics


@dataclass(frozen=True)
class Principal:
    subject: str
    method: str  # "api_key" | "jwt"


def _digest(value: str) -> bytes:
    # surrogatepass: any str encodes, so a key sent as JSON "\\ud800" is just a wrong key (401), not a 500
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def api_key_subject(api_key: str) -> str:
    return "apikey-" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]


def check_api_key(settings: Settings, presented: str) -> Principal:
    expected = settings.api_key
    if expected is None:
        raise AuthError(
            "API key authentication is not configured on this server (set CARTRITA_API_KEY)",
            "not_configured",
        )
    # compare fixed-length digests: constant time, and no length leak
    if not hmac.compare_digest(_digest(presented), _digest(expected)):
        raise AuthError("invalid API key", "bad_key")
    return Principal(api_key_subject(expected), "api_key")


def issue_token(settings: Settings, subject: str) -> Tuple[str, int]:
    now = int(time.time())
    ttl = settings.jwt_ttl_seconds
    claims = {"sub": subject, "iat": now, "exp": now + ttl, "iss": settings.jwt_issuer}
    token = jwt.encode(claims, settings.jwt_secret_key.get_secret_value(), algorithm=JWT_ALGORITHM)
    return token, ttl


def verify_token(settings: Settings, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret_key.get_secret_value(),
            algorithms=[JWT_ALGORITHM],
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("the token has expired; request a new one from POST /api/auth/token", "expired") from None
    except jwt.InvalidAlgorithmError:
        raise AuthError("invalid token: the algorithm is not allowed (HS256 only)", "bad_algorithm") from None
    except jwt.InvalidSignatureError:
        raise AuthError("invalid token: bad signature", "bad_signature") from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"invalid token: missing claim {exc.claim!r}", "bad_token") from None
    except jwt.PyJWTError:
        raise AuthError("invalid token", "bad_token") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthError("invalid token: bad subject", "bad_token")
    return Principal(sub, "jwt")


def authenticate(
    settings: Settings,
    path: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
) -> Principal:
    """The caller's principal, or :class:`AuthError`.

    ``headers`` must have lower-case names.
    """
    api_key = headers.get("x-api-key")
    if api_key is not None:
        return check_api_key(settings, api_key.strip())
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise AuthError("the Authorization header must be 'Bearer <token>'", "bad_header")
        return verify_token(settings, credentials.strip())
    token = query.get("token")
    if token is not None and path.startswith(QUERY_TOKEN_PATHS):
        return verify_token(settings, token.strip())
    raise AuthError(
        "authentication required: send 'X-API-Key: <key>' or 'Authorization: Bearer <token>' "
        "(tokens from POST /api/auth/token)",
        "missing",
    )
