"""ASGI middleware in front of the routes: encoding, body size, auth, rate limit.

For every HTTP request:

* the raw path and query string must percent-decode to valid UTF-8 (else 400),
* the body is capped: ``Content-Length`` over the cap, or a chunked body
  that grows past it, is answered 413 before any route sees it
  (1 MB; audio uploads to ``/api/voice/transcribe`` 10 MB).

For ``/api/*`` (except ``POST /api/auth/token`` and ``/api/auth/login``) and ``/ws/*`` the caller
must authenticate (:mod:`.security`), else 401; then the per-client rate
limit applies (429 with ``Retry-After``). The token endpoint is rate limited
by client address (:func:`client_ip`). A WebSocket must come from no page
(no ``Origin``) or from one of CORS_ALLOW_ORIGINS, and a principal may hold
at most WS_MAX_CONNECTIONS_PER_PRINCIPAL open at once (in this process). A
WebSocket that fails a check is accepted, sent one error frame
``{"type": "error", "error": ..., "detail": ...}`` and closed with code 4403
(origin), 4401 (unauthorized) or 4429 (rate limited, too many sockets):
browsers cannot read an HTTP status from a refused handshake.

The login route limits itself (per address, and per username its failures, which only it
can read). A login session that cannot be checked (Redis down) is a 503, or
close code 1013 on a WebSocket.

The principal is stored in ``scope["state"]["principal"]``
(``request.state.principal`` in the routes).
"""

from __future__ import annotations

import json
import logging
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import parse_qsl, unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ServiceUnavailable, error_body
from .ratelimit import ConnectionSlots
from .security import AuthError, Principal, authenticate, same_secret

log = logging.getLogger("cartrita.orchestrator.guard")

TOKEN_PATH = "/api/auth/token"
LOGIN_PATH = "/api/auth/login"
VOICE_PATH = "/api/voice/transcribe"
#: the header a proxy proves itself with (TRUSTED_PROXY_TOKEN; see client_ip)
PROXY_TOKEN_HEADER = b"x-cartrita-proxy-token"

WS_CLOSE_UNAUTHORIZED = 4401
WS_CLOSE_FORBIDDEN_ORIGIN = 4403
WS_CLOSE_RATE_LIMITED = 4429


def _valid_utf8_percent(raw: bytes) -> bool:
    try:
        unquote_to_bytes(raw.decode("ascii")).decode("utf-8")
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def _headers(scope: Scope) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for k, v in scope.get("headers") or []:
        out[k.decode("latin-1").lower()] = v.decode("latin-1")
    return out


def _query(scope: Scope) -> Dict[str, str]:
    raw = (scope.get("query_string") or b"").decode("latin-1")
    return dict(parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="replace"))


def _address(text: str) -> Optional[Union[IPv4Address, IPv6Address]]:
    """An address as X-Forwarded-For or a peer writes it (``192.0.2.1``, ``192.0.2.1:4711``, ``2001:db8::1``,
    ``[2001:db8::1]:4711``), or None."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    # an IPv4 client of a dual-stack socket is still that IPv4 address
    return address.ipv4_mapped if isinstance(address, IPv6Address) and address.ipv4_mapped else address


def forwarded_client(peer: str, forwarded_for: Sequence[str],
                     trusted: Sequence[Union[IPv4Network, IPv6Network]], peer_is_proxy: bool = False) -> str:
    """The client's address: the TCP peer, unless that is a trusted proxy (in ``trusted``, or ``peer_is_proxy``:
    it proved itself with the proxy token); then the right-most X-Forwarded-For hop that is not one. Each proxy
    appends the address it was connected from, so the hops a trusted proxy wrote are the only ones to believe:
    anything further left came from the client. ``forwarded_for`` holds the header's values in the order
    received; an unreadable hop stops the walk at the proxy that wrote it."""

    def is_trusted(address: Optional[Union[IPv4Address, IPv6Address]]) -> bool:
        return address is not None and any(address in network for network in trusted)

    if not peer_is_proxy and not is_trusted(_address(peer)):
        return peer
    client = peer
    for hop in reversed([h for value in forwarded_for for h in value.split(",")]):
        address = _address(hop)
        if address is None:
            break
        client = str(address)
        if not is_trusted(address):
            break
    return client


def _proxy_token_valid(headers: Sequence[Tuple[bytes, bytes]], settings) -> bool:
    """Whether the request carries X-Cartrita-Proxy-Token equal to TRUSTED_PROXY_TOKEN (constant time; never
    logged). False when no token is configured, or the header is missing or repeated."""
    expected = getattr(settings, "trusted_proxy_token", None) if settings is not None else None
    if expected is None or not expected.get_secret_value():
        return False
    presented = [v for k, v in headers if k.lower() == PROXY_TOKEN_HEADER]
    if len(presented) != 1:
        return False
    return same_secret(presented[0].decode("latin-1").strip(), expected.get_secret_value())


def client_ip(scope: Scope) -> str:
    """The real client's address (see forwarded_client), worked out once per request (also
    ``request.state.client_ip``). X-Forwarded-For is believed when the TCP peer is in TRUSTED_PROXIES, or when
    the request carries ``X-Cartrita-Proxy-Token`` equal to TRUSTED_PROXY_TOKEN (a proxy whose address is not
    known in advance, as in Compose or Kubernetes); otherwise the TCP peer is the client.

    uvicorn must run with ``--no-proxy-headers``: its own X-Forwarded-For handling (on by default, trusting
    127.0.0.1) rewrites ``scope["client"]`` before this sees it."""
    state = scope.setdefault("state", {})
    if "client_ip" not in state:
        client = scope.get("client")
        settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
        headers = scope.get("headers") or []
        forwarded = [v.decode("latin-1") for k, v in headers if k.lower() == b"x-forwarded-for"]
        state["client_ip"] = forwarded_client(client[0] if client else "unknown", forwarded,
                                              settings.trusted_proxies if settings is not None else (),
                                              peer_is_proxy=_proxy_token_valid(headers, settings))
    return state["client_ip"]


def origin_allowed(origin: str, allowed: Sequence[str]) -> bool:
    return "*" in allowed or origin.strip().rstrip("/").lower() in allowed


async def send_json(send: Send, status: int, body: dict, headers: Optional[List[Tuple[str, str]]] = None) -> None:
    data = json.dumps(body).encode("utf-8")
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode("ascii")),
    ]
    for k, v in headers or []:
        raw_headers.append((k.lower().encode("latin-1"), v.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": data})


async def refuse_websocket(receive: Receive, send: Send, code: int, body: dict) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":  # client already gone
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps({"type": "error", **body})})
    await send({"type": "websocket.close", "code": code})


class ApiGuard:
    def __init__(self, app: ASGIApp, state) -> None:
        self.app = app
        self.state = state  # the FastAPI app.state (settings, limiter, metrics)
        self.sockets = ConnectionSlots(state.settings.ws_max_connections_per_principal)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # -- http ---------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self.state.settings
        path: str = scope.get("path", "")
        raw_path = scope.get("raw_path") or path.encode("utf-8", "surrogateescape")
        if not _valid_utf8_percent(raw_path) or not _valid_utf8_percent(scope.get("query_string") or b""):
            await send_json(send, 400, error_body("invalid_encoding", "the URL is not valid percent-encoded UTF-8"))
            return

        extra_headers: List[Tuple[str, str]] = []
        if path.startswith("/api/") or path == "/api":
            if scope.get("method") == "OPTIONS":
                pass  # CORS preflight is answered by the CORS middleware outside
            elif path == TOKEN_PATH:
                limited = await self._rate_limit("ip:" + client_ip(scope), send)
                if limited is None:
                    return
                extra_headers = limited
            elif path == LOGIN_PATH:
                pass  # no credentials yet; rate limited in the route
            else:
                principal = await self._authenticate_http(scope, send)
                if principal is None:
                    return
                limited = await self._rate_limit(principal.subject, send)
                if limited is None:
                    return
                extra_headers = limited

        cap = settings.max_audio_bytes if path == VOICE_PATH else settings.max_body_bytes
        headers = _headers(scope)
        declared = headers.get("content-length")
        if declared is not None:
            try:
                declared_len = int(declared)
            except ValueError:
                await send_json(send, 400, error_body("bad_request", "invalid Content-Length header"))
                return
            if declared_len > cap:
                await self._drain(receive, cap)
                await self._too_large(send, cap)
                return

        body, ok = await self._read_body(receive, cap)
        if not ok:
            if body is not None:  # grew past the cap
                await self._drain(receive, cap)
                await self._too_large(send, cap)
            return  # else: the client disconnected

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        if extra_headers:
            encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in extra_headers]

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = dict(message)
                    message["headers"] = list(message.get("headers", [])) + encoded
                await send(message)

            await self.app(scope, replay, send_with_headers)
        else:
            await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive, cap: int) -> Tuple[Optional[bytes], bool]:
        chunks: List[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                return b"", False
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), True

    @staticmethod
    async def _drain(receive: Receive, cap: int) -> None:
        """Read (and drop) a bounded amount of an oversized body.

        A client that is still sending when the server answers and closes
        gets a connection reset instead of the 413; reading what it sends
        (up to a few times the cap) lets ordinary clients see the answer.
        """
        budget = 4 * cap
        while budget > 0:
            message = await receive()
            if message["type"] != "http.request":
                return
            budget -= len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _too_large(self, send: Send, cap: int) -> None:
        self.state.metrics.bad_requests.labels("too_large").inc()
        await send_json(
            send,
            413,
            error_body("payload_too_large", f"the request body is larger than {cap} bytes"),
            [("connection", "close")],
        )

    async def _authenticate_http(self, scope: Scope, send: Send) -> Optional[Principal]:
        try:
            principal = await authenticate(
                self.state.settings, self.state.sessions, scope.get("path", ""), _headers(scope), _query(scope)
            )
        except AuthError as exc:
            self.state.metrics.auth_failures.labels(exc.reason).inc()
            await send_json(send, 401, error_body("unauthorized", exc.detail), [("www-authenticate", "Bearer")])
            return None
        except ServiceUnavailable as exc:
            await send_json(send, exc.status_code, exc.body(), list(exc.headers.items()))
            return None
        scope.setdefault("state", {})["principal"] = principal
        return principal

    async def _rate_limit(self, identity: str, send: Send) -> Optional[List[Tuple[str, str]]]:
        """Rate-limit headers to add, or None when the 429 was sent."""
        decision = await self.state.limiter.hit(identity)
        if decision.limit <= 0:  # rate limiting is off
            return []
        headers = [("x-ratelimit-limit", str(decision.limit))]
        if decision.remaining is not None:
            headers.append(("x-ratelimit-remaining", str(decision.remaining)))
        if decision.allowed:
            return headers
        await send_json(
            send,
            429,
            error_body(
                "rate_limited",
                f"too many requests: at most {decision.limit} per {self.state.limiter.window} s; "
                f"retry in {decision.retry_after} s",
                retry_after=decision.retry_after,
            ),
            headers + [("retry-after", str(decision.retry_after))],
        )
        return None

    # -- websocket ------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if not path.startswith("/ws/"):
            await self.app(scope, receive, send)
            return
        # a page from elsewhere must not use a token it got hold of; a missing Origin is a non-browser client
        origin = _headers(scope).get("origin")
        if origin is not None and not origin_allowed(origin, self.state.settings.cors_allow_origins):
            await refuse_websocket(receive, send, WS_CLOSE_FORBIDDEN_ORIGIN, error_body(
                "forbidden_origin", "WebSockets are not accepted from this page's origin (see CORS_ALLOW_ORIGINS)"))
            return
        try:
            principal = await authenticate(self.state.settings, self.state.sessions, path, _headers(scope), _query(scope))
        except AuthError as exc:
            self.state.metrics.auth_failures.labels(exc.reason).inc()
            await refuse_websocket(receive, send, WS_CLOSE_UNAUTHORIZED, error_body("unauthorized", exc.detail))
            return
        except ServiceUnavailable as exc:  # 1013: try again later
            await refuse_websocket(receive, send, 1013, exc.body())
            return
        decision = await self.state.limiter.hit(principal.subject)
        if not decision.allowed:
            await refuse_websocket(
                receive,
                send,
                WS_CLOSE_RATE_LIMITED,
                error_body(
                    "rate_limited",
                    f"too many requests; retry in {decision.retry_after} s",
                    retry_after=decision.retry_after,
                ),
            )
            return
        if not self.sockets.acquire(principal.subject):
            await refuse_websocket(receive, send, WS_CLOSE_RATE_LIMITED, error_body(
                "too_many_connections",
                f"at most {self.sockets.limit} WebSockets may be open at once per client; close one first"))
            return
        scope.setdefault("state", {})["principal"] = principal
        try:
            await self.app(scope, receive, send)
        finally:
            self.sockets.release(principal.subject)
