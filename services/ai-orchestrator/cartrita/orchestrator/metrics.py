"""Prometheus metrics: a per-app registry and a pure ASGI middleware.

Requests are labelled by route *template* (``/items/{id}``), never by the
raw path, so label cardinality stays bounded; unmatched paths share the
``<unmatched>`` label.
"""

from __future__ import annotations

import time
from typing import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NAMESPACE = "cartrita_orchestrator"

_KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
UNMATCHED = "<unmatched>"


class Metrics:
    def __init__(self, version: str, environment: str):
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "http_requests",
            "HTTP requests handled, by method, route template and status code.",
            ["method", "route", "status"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration in seconds, by method and route template.",
            ["method", "route"],
            namespace=NAMESPACE,
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being handled.",
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.dependency_up = Gauge(
            "dependency_up",
            "1 if the last health probe of the dependency succeeded, else 0.",
            ["dependency"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.dependency_probes = Counter(
            "dependency_probes",
            "Health probes run against the dependency, by outcome.",
            ["dependency", "status"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.dependency_latency = Gauge(
            "dependency_probe_latency_seconds",
            "Latency of the last health probe of the dependency.",
            ["dependency"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        # --- application counters ------------------------------------------
        self.chats = Counter(
            "chats",
            "Chat turns, by transport (rest, sse, ws), provider and outcome.",
            ["mode", "provider", "outcome"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.chat_tokens = Counter(
            "chat_tokens",
            "Chat tokens, by provider and kind (prompt = the user message, completion = the reply).",
            ["provider", "kind"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.memory_operations = Counter(
            "memory_operations",
            "Semantic memory operations (insert, search, chat_context), by outcome.",
            ["operation", "outcome"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.memory_items = Counter(
            "memory_items_stored",
            "Memory items stored.",
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.provider_requests = Counter(
            "provider_requests",
            "HTTP requests to model providers, by provider, kind and outcome (ok, retry, error).",
            ["provider", "kind", "outcome"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.embedding_cache = Counter(
            "embedding_cache",
            "Embedding cache lookups in redis, by result (hit, miss).",
            ["result"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "auth_failures",
            "Refused authentications, by reason.",
            ["reason"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "rate_limited_requests",
            "Requests refused with 429 by the rate limiter.",
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.rate_limit_errors = Counter(
            "rate_limit_errors",
            "Requests let through because the rate limiter could not reach redis (fail open).",
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.bad_requests = Counter(
            "bad_requests",
            "Requests refused before reaching a route, by reason.",
            ["reason"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.websockets = Gauge(
            "websocket_connections",
            "Open WebSocket chat connections.",
            namespace=NAMESPACE,
            registry=self.registry,
        )
        Info(
            "build",
            "Service build information.",
            namespace=NAMESPACE,
            registry=self.registry,
        ).info({"version": version, "environment": environment})

    def request_done(self, method: str, route: str, status: int, start: float) -> None:
        """One HTTP request answered (it was counted in progress when it began at ``start``, a perf_counter value)."""
        self.in_progress.dec()
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(time.perf_counter() - start)

    def observe_dependency(self, name: str, result) -> None:
        self.dependency_up.labels(name).set(1 if result.ok else 0)
        self.dependency_probes.labels(name, result.status).inc()
        self.dependency_latency.labels(name).set(result.latency_ms / 1000.0)


def route_template(routes: Iterable[BaseRoute], scope: Scope) -> str:
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return getattr(route, "path", UNMATCHED)
        if match == Match.PARTIAL and partial is None:
            partial = getattr(route, "path", UNMATCHED)  # e.g. wrong method
    return partial or UNMATCHED


class PrometheusMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, router) -> None:
        self.app = app
        self.metrics = metrics
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        method = method if method in _KNOWN_METHODS else "OTHER"
        route = route_template(self.router.routes, scope)
        status_code = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        m = self.metrics
        m.in_progress.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            m.request_done(method, route, status_code, start)
