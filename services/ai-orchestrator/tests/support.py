"""Real PostgreSQL, Redis and app processes for the tests (no mocks).

The servers are the repository's launchers (eng/local-servers), started and ended through its shared module
``local_servers``: every process is recorded in ``REGISTRY``, and whatever is still alive when the interpreter exits,
or on SIGTERM, is ended together with its descendants (PostgreSQL backends included), so a failing or interrupted
run leaves no orphans.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

import httpx

SERVICE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SERVICE_DIR.parent.parent / "eng" / "local-servers"))

import local_servers  # noqa: E402
from local_servers import REGISTRY, free_port, make_tempdir, minimal_env, wait_until  # noqa: E402,F401

PYTHON = "/usr/bin/python3"

#: a throw-away cluster: durability off, a few connections' worth of memory
TEST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "40",
                 "logging_collector": "off"}

#: Redis needs no name of its own here
RedisServer = local_servers.Redis


def install_signal_cleanup() -> None:
    # SIGTERM only: SIGINT stays pytest's own (it stops the run and tears the fixtures down).
    local_servers.install_signal_cleanup(signal.SIGTERM)


class PostgresServer(local_servers.Postgres):
    """A throw-away cluster on 127.0.0.1:<port> (superuser ``postgres``), TCP only, password auth."""

    SUPERUSER = "postgres"

    def __init__(self, base_dir: Path, port: int, superuser_password: str):
        super().__init__(base_dir, port, self.SUPERUSER, superuser_password, TEST_SETTINGS, initdb_args="--no-sync")

    def create_app_database(self, user: str, password: str, dbname: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.superuser_dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(password)
                )
            )
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(user)))

    def dsn(self, user: str, password: str, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user={user} password={password}"

    def apply_schema(self, dbname: str, user: str, password: str, schema_sql: Path) -> None:
        """Loads schema_sql, the migrations' idempotent script (eng/schema-sql.sh), the way the
        migration worker leaves the database: the script's CREATE EXTENSION statements (the
        migrations' own) first as the superuser, as the worker creates them before migrating
        (vector is not a trusted extension), then the whole script as the application role."""
        import psycopg

        script = schema_sql.read_text(encoding="utf-8-sig")  # dotnet ef writes a BOM
        with psycopg.connect(self.superuser_dsn(dbname), autocommit=True) as conn:
            for statement in re.findall(r"^\s*(CREATE EXTENSION IF NOT EXISTS [^;]+);", script, re.M):
                conn.execute(statement)
        with psycopg.connect(self.dsn(user, password, dbname), autocommit=True) as conn:
            conn.execute(script)


# ---------------------------------------------------------------------------
# the orchestrator itself
# ---------------------------------------------------------------------------


def app_env(**values: Optional[str]) -> Dict[str, str]:
    """Environment for the app: a minimal base without HOME + the given variables (None = unset)."""
    return minimal_env(HOME=None, PYTHONDONTWRITEBYTECODE="1", **values)


def uvicorn_argv(port: int) -> List[str]:
    return [
        PYTHON, "-m", "uvicorn", "cartrita.orchestrator.main:app",
        "--host", "127.0.0.1", "--port", str(port),
    ]


class AppProcess:
    def __init__(self, env: Dict[str, str], log_dir: Path, name: str = "app",
                 argv: Callable[[int], List[str]] = uvicorn_argv):
        self.env = env
        self.argv = argv  # the command line for a port
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.stdout_path = log_dir / f"{name}.stdout"
        self.stderr_path = log_dir / f"{name}.stderr"
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 20.0) -> None:
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        try:
            self.proc = REGISTRY.spawn(
                self.argv(self.port), cwd=SERVICE_DIR, env=self.env, stdout=out, stderr=err
            )
        finally:
            out.close()
            err.close()
        wait_until(self._answers, timeout, 0.05, f"app on port {self.port}")

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise local_servers.Exited(f"app exited ({self.proc.returncode}):\n{self.output()}")
        # any HTTP answer (200 or 503) means the server is up
        httpx.get(f"{self.base_url}/health", timeout=5.0)
        return True

    def stop(self) -> Optional[int]:
        if self.proc is None:
            return None
        rc = REGISTRY.stop(self.proc, signal.SIGTERM)
        self.proc = None
        return rc

    def output(self) -> str:
        parts = []
        for p in (self.stdout_path, self.stderr_path):
            try:
                parts.append(p.read_text(errors="replace"))
            except OSError:
                pass
        return "\n".join(parts)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
