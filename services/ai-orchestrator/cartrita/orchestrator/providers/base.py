"""What every provider shares: the chat context, results, and an HTTP client
with timeouts and bounded retries.

Retries: up to ``provider_max_attempts`` attempts on connection errors,
timeouts and HTTP 408/409/429/5xx (Anthropic's 529 "overloaded" included),
with exponential backoff and jitter (``provider_backoff_base`` * 2^n, capped
at ``provider_backoff_max``); a ``Retry-After`` header is honoured up to
that cap. A streamed response is retried only before its first byte has been
handed on. Other 4xx answers fail at once. Failures become
:class:`~cartrita.orchestrator.errors.ProviderError` (HTTP 502) whose detail
names the provider and status, never a key or the provider's raw body.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Dict, List, Optional

import httpx

from ..config import Settings
from ..errors import ProviderError
from ..logging_setup import scrubber

log = logging.getLogger("cartrita.orchestrator.providers")

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


@dataclass
class Memory:
    id: str
    content: str
    score: float


@dataclass
class ChatContext:
    """Everything a provider needs for one reply."""

    agent: str
    system_prompt: str
    message: str
    history: List[Dict[str, str]] = field(default_factory=list)  # [{"role", "content"}], oldest first
    memories: List[Memory] = field(default_factory=list)


@dataclass
class Usage:
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None


@dataclass
class ChatResult:
    text: str
    model: str
    usage: Usage = field(default_factory=Usage)


class ChatProvider:
    """``complete()`` for a whole reply, ``stream()`` for its pieces."""

    name = "base"
    model = ""

    async def complete(self, ctx: ChatContext) -> ChatResult:  # pragma: no cover - interface
        raise NotImplementedError

    def stream(self, ctx: ChatContext, usage: Usage) -> AsyncIterator[str]:  # pragma: no cover - interface
        raise NotImplementedError


def new_http_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            settings.provider_read_timeout,
            connect=settings.provider_connect_timeout,
            pool=settings.provider_connect_timeout,
        ),
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
        follow_redirects=False,
        # the *_BASE_URL settings are the proxy hook; ambient proxy variables are ignored
        trust_env=False,
        headers={"user-agent": "cartrita-ai-orchestrator"},
    )


def _retry_after_seconds(response: httpx.Response) -> Optional[float]:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _provider_message(response: httpx.Response) -> str:
    """A short, scrubbed reason from a provider error body, for the log only."""
    try:
        data = response.json()
    except Exception:
        return ""
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        msg = err.get("message") or err.get("type") or ""
    elif isinstance(err, str):
        msg = err
    else:
        msg = (data.get("err_msg") or data.get("message") or "") if isinstance(data, dict) else ""
    return scrubber(str(msg))[:200]


class ProviderHTTP:
    """One provider's view of the shared ``httpx.AsyncClient``."""

    def __init__(self, provider: str, client: httpx.AsyncClient, settings: Settings, metrics=None):
        self.provider = provider
        self.client = client
        self.settings = settings
        self.metrics = metrics

    def _count(self, kind: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.provider_requests.labels(self.provider, kind, outcome).inc()

    def _backoff(self, attempt: int, response: Optional[httpx.Response]) -> float:
        s = self.settings
        delay = min(s.provider_backoff_max, s.provider_backoff_base * (2 ** attempt))
        delay *= 0.75 + random.random() * 0.5
        if response is not None:
            hinted = _retry_after_seconds(response)
            if hinted is not None:
                delay = max(delay, min(hinted, s.provider_backoff_max))
        return delay

    def _fail(self, kind: str, response: Optional[httpx.Response], exc: Optional[BaseException], attempts: int):
        self._count(kind, "error")
        if response is not None:
            reason = _provider_message(response)
            log.warning(
                "%s %s request failed: HTTP %d after %d attempt(s)%s",
                self.provider, kind, response.status_code, attempts, f" ({reason})" if reason else "",
            )
            return ProviderError(
                f"{self.provider} answered HTTP {response.status_code} after {attempts} attempt(s)"
            )
        log.warning("%s %s request failed after %d attempt(s): %s", self.provider, kind, attempts,
                    type(exc).__name__ if exc else "unknown")
        return ProviderError(
            f"{self.provider} could not be reached after {attempts} attempt(s) ({type(exc).__name__ if exc else 'error'})"
        )

    async def _send(self, kind: str, request: httpx.Request) -> httpx.Response:
        """Send with retries; returns an open (streaming) 2xx response."""
        attempts = max(1, self.settings.provider_max_attempts)
        for attempt in range(attempts):
            response: Optional[httpx.Response] = None
            try:
                response = await self.client.send(request, stream=True)
            except httpx.TransportError as exc:
                if attempt + 1 >= attempts:
                    raise self._fail(kind, None, exc, attempt + 1) from None
                self._count(kind, "retry")
                delay = self._backoff(attempt, None)
                log.info("%s %s request: %s, retrying in %.2fs", self.provider, kind, type(exc).__name__, delay)
                await asyncio.sleep(delay)
                continue
            if response.status_code < 300:
                return response
            await response.aread()
            await response.aclose()
            if response.status_code not in RETRYABLE_STATUS or attempt + 1 >= attempts:
                raise self._fail(kind, response, None, attempt + 1)
            self._count(kind, "retry")
            delay = self._backoff(attempt, response)
            log.info("%s %s request: HTTP %d, retrying in %.2fs", self.provider, kind, response.status_code, delay)
            await asyncio.sleep(delay)
        raise ProviderError(f"{self.provider} request failed")  # pragma: no cover

    async def post_json(self, kind: str, url: str, headers: Dict[str, str], body: Any) -> Any:
        request = self.client.build_request("POST", url, headers=headers, json=body)
        return await self._json(kind, await self._send(kind, request))

    async def post_content(self, kind: str, url: str, headers: Dict[str, str], content: bytes,
                           params: Optional[Dict[str, str]] = None) -> Any:
        request = self.client.build_request("POST", url, headers=headers, content=content, params=params)
        return await self._json(kind, await self._send(kind, request))

    async def _json(self, kind: str, response: httpx.Response) -> Any:
        """The whole body of a successful answer, parsed; a cut connection or a non-JSON body is a ProviderError."""
        try:
            await response.aread()
        except httpx.TransportError as exc:
            raise self._fail(kind, None, exc, 1) from None
        finally:
            await response.aclose()
        try:
            data = response.json()
        except ValueError:
            raise self._fail(kind, None, ValueError("response is not JSON"), 1) from None
        self._count(kind, "ok")
        return data

    @asynccontextmanager
    async def stream(self, kind: str, url: str, headers: Dict[str, str], body: Any) -> AsyncIterator[httpx.Response]:
        request = self.client.build_request("POST", url, headers=headers, json=body)
        response = await self._send(kind, request)
        try:
            yield response
            self._count(kind, "ok")
        finally:
            await response.aclose()


async def sse_events(response: httpx.Response, provider: str) -> AsyncIterator[Dict[str, Any]]:
    """Parse a Server-Sent Events body into ``{"event": ..., "data": ...}`` dicts."""
    event: Optional[str] = None
    data_lines: List[str] = []
    try:
        async for line in response.aiter_lines():
            line = line.rstrip("\r\n")  # httpx 0.23 keeps the line ending
            if line == "":
                if data_lines:
                    yield {"event": event, "data": "\n".join(data_lines)}
                event, data_lines = None, []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "event":
                event = value
            elif name == "data":
                data_lines.append(value)
        if data_lines:
            yield {"event": event, "data": "\n".join(data_lines)}
    except httpx.TransportError as exc:
        raise ProviderError(f"{provider} stream broke off ({type(exc).__name__})") from None
