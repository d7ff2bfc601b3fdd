"""Throw-away PostgreSQL 15 + pgvector, Redis (the repository's launchers, eng/local-servers), the migration worker, the
orchestrator and the frontend, started by hand on free ports (never the stack's defaults) with data in a temporary
folder."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Optional

import local_servers
from local_servers import PG_BIN, orchestrator_argv  # noqa: F401 - bench/run checks for PG_BIN
from .procs import REGISTRY, free_port, minimal_env, wait_until

ROOT = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3"
ORCHESTRATOR_DIR = ROOT / "services" / "ai-orchestrator"
MIGRATIONS_DLL = ROOT / "Cartrita.MigrationService" / "bin" / "Debug" / "net10.0" / "Cartrita.MigrationService.dll"
FRONTEND_SERVER = ROOT / "frontend" / ".next" / "standalone" / "server.js"

DB_USER = "robbie"  # the AppHost's default postgres-user
DB_NAME = "cartrita"


def http_status(url: str, timeout: float = 2.0) -> Optional[int]:
    """The HTTP status of a GET, or None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError, ValueError):
        return None


def http_json(method: str, url: str, body: Optional[dict] = None, headers: Optional[Dict[str, str]] = None, timeout: float = 30.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, json.loads(resp.read() or b"null")


class Postgres(local_servers.Postgres):
    """eng/local-servers/postgres-server in ``base/data``, as the AppHost's user, with the AppHost's server options."""

    def __init__(self, base: Path, port: Optional[int] = None, password: Optional[str] = None, settings: Optional[Dict[str, str]] = None):
        # What Cartrita.AppHost passes to its local postgres (Hosting/Postgres/PostgresProcessBuilderExtensions.cs).
        super().__init__(base, port, DB_USER, password, {"shared_buffers": "1GB", "maintenance_work_mem": "1GB", **(settings or {})})

    def dsn(self, dbname: str = DB_NAME) -> str:
        return self.superuser_dsn(dbname)

    def url(self, dbname: str = DB_NAME) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def npgsql(self, dbname: str = DB_NAME) -> str:
        return f"Host=127.0.0.1;Port={self.port};Username={self.user};Password={self.password};Database={dbname}"

    def create_database(self, dbname: str = DB_NAME) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{dbname}"')


Redis = local_servers.Redis


def run_migrations(pg: Postgres, log: Path, timeout: float = 120.0) -> float:
    """The migration worker, as the AppHost runs it (`dotnet <dll>` with ConnectionStrings__cartrita); seconds taken."""
    if not MIGRATIONS_DLL.exists():
        raise RuntimeError(f"{MIGRATIONS_DLL} is missing: build the solution first (dotnet build Cartrita.sln)")
    env = minimal_env(ConnectionStrings__cartrita=pg.npgsql(), DOTNET_ENVIRONMENT="Production",
                      DOTNET_CLI_TELEMETRY_OPTOUT="1", DOTNET_NOLOGO="1")
    t0 = time.perf_counter()
    with open(log, "ab") as out:
        proc = REGISTRY.spawn(["dotnet", str(MIGRATIONS_DLL)], cwd=MIGRATIONS_DLL.parent, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            REGISTRY.stop(proc)
            raise RuntimeError(f"the migration worker did not finish in {timeout:g}s; see {log}")
    if rc != 0:
        raise RuntimeError(f"the migration worker exited {rc}; see {log}")
    return time.perf_counter() - t0


class Orchestrator:
    """The orchestrator image's command line (``local_servers.orchestrator_argv``: the AppHost's flags, no --reload)."""

    def __init__(self, base: Path, pg: Postgres, redis: Redis, port: Optional[int] = None, api_key: Optional[str] = None,
                 env: Optional[Dict[str, str]] = None, app: str = "cartrita.orchestrator.main:app", cwd: Path = ORCHESTRATOR_DIR,
                 name: str = "orchestrator"):
        self.port = port or free_port()
        self.api_key = api_key or secrets.token_urlsafe(24)
        self.log = base / f"{name}.log"
        self.app = app
        self.cwd = cwd
        settings = dict(DATABASE_URL=pg.url(), REDIS_URL=redis.url(), JWT_SECRET_KEY=secrets.token_urlsafe(48),
                        CARTRITA_API_KEY=self.api_key, CARTRITA_ENV="production", TESTING="false",
                        PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
        settings.update(env or {})
        self.env = minimal_env(**settings)
        self.proc: Optional[subprocess.Popen] = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> subprocess.Popen:
        argv = [*orchestrator_argv(PYTHON, self.port, self.app), "--no-access-log"]
        with open(self.log, "ab") as log:
            self.proc = REGISTRY.spawn(argv, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        return self.proc

    def healthy(self, path: str = "/health") -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited ({self.proc.returncode}); see {self.log}")
        return http_status(self.base_url + path, timeout=2) == 200

    def start(self, timeout: float = 30.0, path: str = "/health") -> None:
        self.spawn()
        wait_until(lambda: self.healthy(path), timeout, 0.02, f"{self.app} on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            REGISTRY.stop(self.proc, signal.SIGTERM)
            self.proc = None


class Frontend:
    """The Next.js standalone server (what the AppHost runs in Production mode)."""

    def __init__(self, base: Path, orchestrator_url: str, api_key: str, port: Optional[int] = None):
        self.port = port or free_port()
        self.log = base / "frontend.log"
        self.env = minimal_env(PORT=str(self.port), HOSTNAME="127.0.0.1", NODE_ENV="production", NEXT_TELEMETRY_DISABLED="1",
                               ORCHESTRATOR_URL=orchestrator_url, NEXT_PUBLIC_API_URL=orchestrator_url,
                               CARTRITA_API_KEY=api_key)
        self.proc: Optional[subprocess.Popen] = None

    def spawn(self) -> subprocess.Popen:
        if not FRONTEND_SERVER.exists():
            raise RuntimeError(f"{FRONTEND_SERVER} is missing: build the frontend first (run ./cartrita up once)")
        with open(self.log, "ab") as log:
            self.proc = REGISTRY.spawn(["node", str(FRONTEND_SERVER)], cwd=FRONTEND_SERVER.parent, stdout=log,
                                       stderr=subprocess.STDOUT, env=self.env)
        return self.proc

    def healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"the frontend exited ({self.proc.returncode}); see {self.log}")
        return http_status(f"http://127.0.0.1:{self.port}/api/health", timeout=3) == 200

    def stop(self) -> None:
        if self.proc is not None:
            REGISTRY.stop(self.proc, signal.SIGTERM)
            self.proc = None
