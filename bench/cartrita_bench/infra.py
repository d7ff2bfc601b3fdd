"""Throw-away PostgreSQL 15 + pgvector, Redis, the migration worker, the orchestrator and the frontend, started by
hand on free ports (never the stack's defaults) with data in a temporary folder."""

from __future__ import annotations

import json
import os
import pwd
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional

from .procs import REGISTRY, free_port, minimal_env, port_open, wait_until

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
REDIS_SERVER = "/usr/bin/redis-server"
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


class Postgres:
    """A cluster in ``base/data`` on 127.0.0.1:<port>, TCP only, with the AppHost's server options."""

    def __init__(self, base: Path, port: Optional[int] = None, password: Optional[str] = None, settings: Optional[Dict[str, str]] = None):
        self.base = base
        self.data = base / "data"
        self.log = base / "postgres.log"
        self.port = port or free_port()
        self.user = DB_USER
        self.password = password or secrets.token_urlsafe(18)
        # What Cartrita.AppHost passes to its local postgres (Hosting/Postgres/PostgresProcessBuilderExtensions.cs).
        self.settings = {"listen_addresses": "127.0.0.1", "unix_socket_directories": "",
                         "shared_buffers": "1GB", "maintenance_work_mem": "1GB"}
        self.settings.update(settings or {})
        self.proc: Optional[subprocess.Popen] = None
        self.as_root = os.geteuid() == 0

    def _argv(self, *argv: str) -> List[str]:
        if self.as_root:  # PostgreSQL refuses to run as root
            return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]
        return list(argv)

    def _chown(self, path: Path) -> None:
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def init(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self._chown(self.base)
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        try:
            res = subprocess.run(
                self._argv(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", self.user, f"--pwfile={pwfile}",
                           "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-instructions"),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=minimal_env(), timeout=120)
        finally:
            pwfile.unlink()
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed ({res.returncode}):\n{res.stdout.decode(errors='replace')}")

    def spawn(self) -> subprocess.Popen:
        argv = [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        for key, value in self.settings.items():
            argv += ["-c", f"{key}={value}"]
        with open(self.log, "ab") as log:
            self.proc = REGISTRY.spawn(self._argv(*argv), stdout=log, stderr=subprocess.STDOUT, env=minimal_env())
        return self.proc

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"postgres exited ({self.proc.returncode}); see {self.log}")
        import psycopg

        with psycopg.connect(self.dsn("postgres"), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True

    def start(self, timeout: float = 30.0) -> None:
        self.spawn()
        wait_until(self.ready, timeout, 0.02, f"postgres on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            REGISTRY.stop(self.proc, signal.SIGINT, timeout=30)  # fast shutdown
            self.proc = None

    def dsn(self, dbname: str = DB_NAME) -> str:
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user={self.user} password={self.password}"

    def url(self, dbname: str = DB_NAME) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def npgsql(self, dbname: str = DB_NAME) -> str:
        return f"Host=127.0.0.1;Port={self.port};Username={self.user};Password={self.password};Database={dbname}"

    def create_database(self, dbname: str = DB_NAME) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{dbname}"')


class Redis:
    def __init__(self, base: Path, port: Optional[int] = None, password: Optional[str] = None):
        self.base = base
        self.port = port or free_port()
        self.password = password or secrets.token_urlsafe(18)
        self.conf = base / "redis.conf"
        self.log = base / "redis.log"
        self.proc: Optional[subprocess.Popen] = None
        base.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            f"bind 127.0.0.1\nport {self.port}\nprotected-mode yes\nrequirepass {self.password}\n"
            f'save ""\nappendonly no\ndir {base}\ndaemonize no\nlogfile ""\n')
        self.conf.chmod(0o600)

    def spawn(self) -> subprocess.Popen:
        with open(self.log, "ab") as log:
            self.proc = REGISTRY.spawn([REDIS_SERVER, str(self.conf)], stdout=log, stderr=subprocess.STDOUT, env=minimal_env())
        return self.proc

    def ready(self) -> bool:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=1)
        try:
            return client.ping() is True
        finally:
            client.close()

    def start(self, timeout: float = 10.0) -> None:
        self.spawn()
        wait_until(self.ready, timeout, 0.02, f"redis on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            REGISTRY.stop(self.proc, signal.SIGTERM)
            self.proc = None

    def url(self, db: int = 0) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/{db}"


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
    """``python -m uvicorn cartrita.orchestrator.main:app`` with the AppHost's flags (no --reload)."""

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
        argv = [PYTHON, "-m", "uvicorn", self.app, "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"]
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
