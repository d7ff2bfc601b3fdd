"""Real PostgreSQL, Redis and app processes for the tests (no mocks).

Every process is started in its own session (process group) and recorded
in ``REGISTRY``; whatever is still alive when the interpreter exits, or on
SIGTERM, is killed by process group, so a failing or interrupted run leaves
no orphans (PostgreSQL backends included).
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import httpx

SERVICE_DIR = Path(__file__).resolve().parent.parent
PYTHON = "/usr/bin/python3"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
REDIS_SERVER = "/usr/bin/redis-server"

#: ports tests must never use (the developer's real services)
RESERVED_PORTS = {3000, 5432, 6379, 8000}


# ---------------------------------------------------------------------------
# process bookkeeping
# ---------------------------------------------------------------------------


class ProcessRegistry:
    def __init__(self) -> None:
        self._procs: List[subprocess.Popen] = []

    def spawn(self, argv: List[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL, **kwargs)
        self._procs.append(proc)
        return proc

    @staticmethod
    def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(proc.pid, sig)  # pid == pgid (start_new_session)
        except ProcessLookupError:
            pass
        except PermissionError:
            pass

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> Optional[int]:
        """Signal the process, wait, then SIGKILL its whole group."""
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        # children (e.g. postgres backends) must not outlive the leader
        self.kill_group(proc)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        if proc in self._procs:
            self._procs.remove(proc)
        return proc.returncode

    def kill_all(self) -> None:
        for proc in list(self._procs):
            self.kill_group(proc)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
        self._procs.clear()


REGISTRY = ProcessRegistry()
atexit.register(REGISTRY.kill_all)


def _on_sigterm(signum, frame):  # pragma: no cover - only on external kill
    REGISTRY.kill_all()
    raise KeyboardInterrupt("SIGTERM")


def install_signal_cleanup() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)


def free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last_exc: Optional[BaseException] = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # keep polling
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc!r})")


def make_tempdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


# ---------------------------------------------------------------------------
# PostgreSQL 15
# ---------------------------------------------------------------------------


class PostgresServer:
    """A throw-away cluster on 127.0.0.1:<port>, TCP only, password auth."""

    SUPERUSER = "postgres"

    def __init__(self, base_dir: Path, port: int, superuser_password: str):
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.log_path = base_dir / "postgres.log"
        self.port = port
        self.superuser_password = superuser_password
        self.proc: Optional[subprocess.Popen] = None
        self._as_root = os.geteuid() == 0

    def _argv(self, *argv: str) -> List[str]:
        if self._as_root:  # postgres refuses to run as root
            return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]
        return list(argv)

    def _chown(self, path: Path) -> None:
        if self._as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def init(self) -> None:
        self._chown(self.base_dir)
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.superuser_password + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        res = subprocess.run(
            self._argv(
                str(PG_BIN / "initdb"),
                "-D", str(self.data_dir),
                "-U", self.SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=60,
            env=_minimal_env(),
        )
        pwfile.unlink()
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed ({res.returncode}):\n{res.stdout.decode(errors='replace')}")

    def start(self, timeout: float = 20.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = open(self.log_path, "ab")
        try:
            self.proc = REGISTRY.spawn(
                self._argv(
                    str(PG_BIN / "postgres"),
                    "-D", str(self.data_dir),
                    "-p", str(self.port),
                    "-c", "listen_addresses=127.0.0.1",
                    "-c", "unix_socket_directories=",
                    "-c", "fsync=off",
                    "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off",
                    "-c", "max_connections=40",
                    "-c", "logging_collector=off",
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_minimal_env(),
            )
        finally:
            log.close()
        wait_until(self._ready, timeout, 0.1, f"postgres on port {self.port}")

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"postgres exited ({self.proc.returncode}); see {self.log_path}:\n{self.log_tail()}")
        import psycopg

        with psycopg.connect(self.superuser_dsn("postgres"), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True

    def stop(self) -> None:
        if self.proc is not None:
            REGISTRY.stop(self.proc, signal.SIGINT)  # fast shutdown
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def superuser_dsn(self, dbname: str) -> str:
        return (
            f"host=127.0.0.1 port={self.port} dbname={dbname} "
            f"user={self.SUPERUSER} password={self.superuser_password}"
        )

    def create_app_database(self, user: str, password: str, dbname: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.superuser_dsn("postgres"), autocommit=True) as conn:
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
        import re

        import psycopg

        script = schema_sql.read_text(encoding="utf-8-sig")  # dotnet ef writes a BOM
        with psycopg.connect(self.superuser_dsn(dbname), autocommit=True) as conn:
            for statement in re.findall(r"^\s*(CREATE EXTENSION IF NOT EXISTS [^;]+);", script, re.M):
                conn.execute(statement)
        with psycopg.connect(self.dsn(user, password, dbname), autocommit=True) as conn:
            conn.execute(script)

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------


class RedisServer:
    def __init__(self, base_dir: Path, port: int, password: str):
        self.base_dir = base_dir
        self.port = port
        self.password = password
        self.conf_path = base_dir / "redis.conf"
        self.log_path = base_dir / "redis.log"
        self.proc: Optional[subprocess.Popen] = None
        # the password lives in the config file, never on the command line
        self.conf_path.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {port}",
                    "protected-mode yes",
                    f"requirepass {password}",
                    'save ""',
                    "appendonly no",
                    f"dir {base_dir}",
                    "daemonize no",
                    'logfile ""',
                ]
            )
            + "\n"
        )
        self.conf_path.chmod(0o600)

    def start(self, timeout: float = 10.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = open(self.log_path, "ab")
        try:
            self.proc = REGISTRY.spawn(
                [REDIS_SERVER, str(self.conf_path), "--save", "", "--appendonly", "no"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_minimal_env(),
            )
        finally:
            log.close()
        wait_until(self._ready, timeout, 0.05, f"redis on port {self.port}")

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"redis exited ({self.proc.returncode}); see {self.log_path}")
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=1)
        try:
            return client.ping() is True
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None:
            REGISTRY.stop(self.proc, signal.SIGTERM)
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


# ---------------------------------------------------------------------------
# the orchestrator itself
# ---------------------------------------------------------------------------


def _minimal_env() -> Dict[str, str]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    if "TMPDIR" in os.environ:
        env["TMPDIR"] = os.environ["TMPDIR"]
    return env


def app_env(**values: Optional[str]) -> Dict[str, str]:
    """Environment for the app: minimal base + the given variables (None = unset)."""
    env = _minimal_env()
    env.update({k: v for k, v in values.items() if v is not None})
    return env


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
            raise RuntimeError(f"app exited ({self.proc.returncode}):\n{self.output()}")
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
