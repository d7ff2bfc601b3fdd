"""Session fixtures: real PostgreSQL 15, real redis-server, the real app."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

import httpx
import pytest

from support import (
    AppProcess,
    PostgresServer,
    RedisServer,
    app_env,
    free_port,
    install_signal_cleanup,
    make_tempdir,
    remove_tree,
)


SCHEMA_SQL = Path(__file__).resolve().parent / "schema.sql"


def pytest_configure(config):
    install_signal_cleanup()


@dataclass(frozen=True)
class Sentinels:
    """Secret values that must never show up in any output."""

    db_password: str = field(default_factory=lambda: "pgSentinel" + secrets.token_hex(12))
    redis_password: str = field(default_factory=lambda: "rdSentinel" + secrets.token_hex(12))
    jwt_secret: str = field(default_factory=lambda: "jwtSentinel" + secrets.token_hex(24))
    openai_key: str = field(default_factory=lambda: "sk-openaiSentinel" + secrets.token_hex(8))
    deepgram_key: str = field(default_factory=lambda: "dgSentinel" + secrets.token_hex(8))
    anthropic_key: str = field(default_factory=lambda: "sk-ant-Sentinel" + secrets.token_hex(8))
    api_key: str = field(default_factory=lambda: "apiSentinel" + secrets.token_hex(8))

    def all(self) -> List[str]:
        return [
            self.db_password,
            self.redis_password,
            self.jwt_secret,
            self.openai_key,
            self.deepgram_key,
            self.anthropic_key,
            self.api_key,
        ]


@pytest.fixture(scope="session")
def sentinels() -> Sentinels:
    return Sentinels()


@pytest.fixture(scope="session")
def workdir():
    path = make_tempdir("cartrita-orch-tests-")
    yield path
    remove_tree(path)


@pytest.fixture(scope="session")
def postgres(workdir: Path, sentinels: Sentinels):
    pg_dir = workdir / "pg"
    pg_dir.mkdir()
    server = PostgresServer(pg_dir, free_port(), superuser_password=secrets.token_hex(16))
    try:
        server.start()
        server.create_app_database("cartrita_app", sentinels.db_password, "cartrita")
        server.apply_schema("cartrita", "cartrita_app", sentinels.db_password, SCHEMA_SQL)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(workdir: Path, sentinels: Sentinels):
    r_dir = workdir / "redis"
    r_dir.mkdir()
    server = RedisServer(r_dir, free_port(), sentinels.redis_password)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def service_env(postgres: PostgresServer, redis_server: RedisServer, sentinels: Sentinels) -> Dict[str, str]:
    return app_env(
        DATABASE_URL=f"postgresql://cartrita_app:{sentinels.db_password}@127.0.0.1:{postgres.port}/cartrita",
        REDIS_URL=f"redis://:{sentinels.redis_password}@127.0.0.1:{redis_server.port}/0",
        JWT_SECRET_KEY=sentinels.jwt_secret,
        # no provider keys: the session app answers with the local provider
        # (test_providers.py runs apps wired to a loopback fake of the APIs)
        OPENAI_API_KEY=None,
        ANTHROPIC_API_KEY=None,
        DEEPGRAM_API_KEY=None,
        CARTRITA_API_KEY=sentinels.api_key,
        CARTRITA_ENV="development",
        TESTING="true",
        # the suite sends far more than 120 requests a minute with one key;
        # test_ratelimit.py checks the limiter on an app of its own
        RATE_LIMIT_REQUESTS="100000",
        LOGIN_RATE_LIMIT_REQUESTS="100000",  # test_security_accounts.py checks the login limit on an app of its own
    )


@pytest.fixture(scope="session")
def app(service_env: Dict[str, str], workdir: Path):
    proc = AppProcess(service_env, workdir, name="app")
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


class Recorder:
    """Every response body the tests saw, for the leak check at the end."""

    def __init__(self) -> None:
        self.bodies: List[str] = []


@pytest.fixture(scope="session")
def seen() -> Recorder:
    return Recorder()


@pytest.fixture
def client(app: AppProcess, seen: Recorder):
    def record(response: httpx.Response) -> None:
        response.read()
        seen.bodies.append(response.text)

    with httpx.Client(base_url=app.base_url, timeout=5.0, event_hooks={"response": [record]}) as c:
        yield c


@pytest.fixture
def deps_up(postgres: PostgresServer, redis_server: RedisServer):
    """Make sure both dependencies run (an earlier failing test may have left one down)."""
    if not postgres.running:
        postgres.start()
    if not redis_server.running:
        redis_server.start()
    yield
    if not postgres.running:
        postgres.start()
    if not redis_server.running:
        redis_server.start()


@pytest.fixture(scope="session")
def key_headers(sentinels: Sentinels) -> Dict[str, str]:
    return {"X-API-Key": sentinels.api_key}


@pytest.fixture(scope="session")
def token(app: AppProcess, sentinels: Sentinels) -> str:
    r = httpx.post(f"{app.base_url}/api/auth/token", headers={"X-API-Key": sentinels.api_key}, timeout=5.0)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture
def ws_token(app: AppProcess, sentinels: Sentinels) -> str:
    """A WebSocket token (aud "ws", 60 s: one per test) of the API key's principal, the only kind ?token= takes."""
    r = httpx.post(f"{app.base_url}/api/auth/token", headers={"X-API-Key": sentinels.api_key}, json={"purpose": "ws"},
                   timeout=5.0)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture(scope="session")
def bearer(token: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(app: AppProcess, seen: Recorder, key_headers: Dict[str, str]):
    """An authenticated client (X-API-Key) that records bodies for the leak check."""

    def record(response: httpx.Response) -> None:
        response.read()
        seen.bodies.append(response.text)

    with httpx.Client(
        base_url=app.base_url, timeout=15.0, headers=key_headers, event_hooks={"response": [record]}
    ) as c:
        yield c
