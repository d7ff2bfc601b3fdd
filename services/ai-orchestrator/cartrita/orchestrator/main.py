"""ASGI entry point: ``uvicorn cartrita.orchestrator.main:app``.

Importing this module reads the settings from the environment; when they are
invalid it prints what is wrong (and how to fix it) on stderr and exits with
status 78 (EX_CONFIG) before the server starts. Use :func:`create_app` to
build an app from explicit :class:`~cartrita.orchestrator.config.Settings`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from . import SERVICE_NAME, __version__
from .agents import AgentDirectory
from .api import agents as agents_api
from .api import auth as auth_api
from .api import chat as chat_api
from .api import conversations as conversations_api
from .api import health as health_api
from .api import memory as memory_api
from .api import metrics as metrics_api
from .api import voice as voice_api
from .cache import Cache
from .chat import ChatService
from .config import EX_CONFIG, ConfigError, Settings, load_settings
from .db import Database
from .embeddings import EmbeddingService
from .errors import install_error_handlers
from .guard import ApiGuard
from .health import HealthMonitor
from .logging_setup import configure_logging
from .metrics import Metrics, PrometheusMiddleware
from .providers import build_providers
from .ratelimit import RateLimiter
from .sessions import LoginSessions
from .users import bootstrap_admin
from .wslimit import install as limit_websocket_messages

log = logging.getLogger("cartrita.orchestrator")


def create_app(settings: Settings) -> FastAPI:
    configure_logging(
        settings.secret_values(),
        level=logging.DEBUG if settings.is_development else logging.INFO,
    )
    if settings.is_development:
        docs = {}
    else:  # no interactive docs in production
        docs = {"docs_url": None, "redoc_url": None, "openapi_url": None}

    app = FastAPI(title="Cartrita AI orchestrator", version=__version__, **docs)
    limit_websocket_messages(settings.max_ws_message_bytes)
    app.state.settings = settings
    app.state.metrics = Metrics(version=__version__, environment=settings.environment)
    app.state.db = Database(settings)
    app.state.cache = Cache(settings)
    app.state.health = HealthMonitor(
        timeout=settings.health_probe_timeout,
        cache_ttl=settings.health_cache_ttl,
        on_result=app.state.metrics.observe_dependency,
    )
    app.state.health.register("database", app.state.db.probe)
    app.state.health.register("redis", app.state.cache.probe)
    app.state.health_answer = health_api.HealthAnswer(app.state)

    state = app.state
    state.limiter = RateLimiter(
        state.cache, settings.rate_limit_requests, settings.rate_limit_window_seconds, state.metrics
    )
    state.sessions = LoginSessions(state.cache, settings.login_session_ttl_seconds, settings.retry_after_seconds)
    state.login_limiter = RateLimiter(
        state.cache, settings.login_rate_limit_requests, settings.rate_limit_window_seconds, state.metrics
    )
    state.providers = build_providers(settings, state.metrics)
    state.embeddings = EmbeddingService(
        state.providers.embedder, state.cache, settings.embedding_cache_ttl_seconds, state.metrics
    )
    state.agents = AgentDirectory(state.db, state.cache, settings.agents_cache_ttl_seconds)
    state.chat = ChatService(
        settings, state.db, state.cache, state.providers.chat, state.embeddings, state.agents, state.metrics
    )

    @asynccontextmanager
    async def lifespan(_app) -> AsyncIterator[None]:
        log.info(
            "starting %s %s (environment=%s, database=%s, redis=%s)",
            SERVICE_NAME,
            __version__,
            settings.environment,
            settings.database_url_redacted,
            settings.redis_url_redacted or "<not set>",
        )
        log.info(
            "providers: chat=%s (%s), embeddings=%s, voice=%s; rate limit %s",
            state.providers.chat.name,
            state.providers.chat.model,
            state.embeddings.provider,
            "deepgram" if state.providers.deepgram else "off",
            f"{settings.rate_limit_requests}/{settings.rate_limit_window_seconds}s per client"
            if settings.rate_limit_requests
            else "off",
        )
        await app.state.db.start()
        await app.state.cache.start()
        bootstrap = None
        if settings.admin_user and settings.admin_password:
            bootstrap = asyncio.create_task(
                bootstrap_admin(state.db, settings.admin_user, settings.admin_password.get_secret_value())
            )
        try:
            yield
        finally:
            log.info("shutting down")
            if bootstrap is not None:
                bootstrap.cancel()
            await state.providers.close()
            await app.state.cache.close()
            await app.state.db.close()

    # FastAPI 0.92 has no lifespan= argument; Starlette 0.26's router does.
    app.router.lifespan_context = lifespan

    # the last added middleware runs first: /health fast path -> metrics -> CORS -> guard -> routes
    app.add_middleware(ApiGuard, state=app.state)
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_allow_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
            expose_headers=["Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining"],
            max_age=600,
        )
    app.add_middleware(PrometheusMiddleware, metrics=app.state.metrics, router=app.router)
    app.add_middleware(health_api.HealthFastPath, state=app.state)
    install_error_handlers(app)
    app.include_router(health_api.router)
    app.include_router(metrics_api.router)
    app.include_router(auth_api.router)
    app.include_router(chat_api.router)
    app.include_router(conversations_api.router)
    app.include_router(memory_api.router)
    app.include_router(agents_api.router)
    app.include_router(voice_api.router)
    return app


def _app_from_environment() -> FastAPI:
    try:
        settings = load_settings()
    except ConfigError as exc:
        sys.stderr.write(exc.render())
        sys.stderr.flush()
        raise SystemExit(EX_CONFIG) from None
    return create_app(settings)


app = _app_from_environment()
