"""This folder's launchers (postgres-server, redis-server) for Python, and the bookkeeping that ends what they start:
the orchestrator's tests (services/ai-orchestrator/tests/support.py) and the benchmarks (bench/cartrita_bench) import
this one module. Needs /usr/bin/python3's psycopg and redis for the readiness checks.

Every process is started in its own session (pid == process group id) and recorded with its start time. ``stop``
signals one, waits, then kills whatever is left of it and of its descendants (found through /proc), each by pid.
``adopt_tree`` records a tree someone else started (Aspire's DCP starts its processes in groups of their own).
``kill_all`` (at exit, and on the signals ``install_signal_cleanup`` names) ends every recorded pid whose start time
still matches, so a reused pid is never hit.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set

HERE = Path(__file__).resolve().parent
POSTGRES_SERVER = HERE / "postgres-server"
REDIS_SERVER = HERE / "redis-server"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
ORCHESTRATOR_DOCKERFILE = HERE.parents[1] / "services" / "ai-orchestrator" / "Dockerfile"

#: the stack's default ports (and the dashboard's): never handed out, so a running `./cartrita up` is not touched
RESERVED_PORTS = {3000, 5432, 6379, 8000, 15080, 19080, 20080}


# ---------------------------------------------------------------------------------------------------------------------
# /proc
# ---------------------------------------------------------------------------------------------------------------------


def stat_fields(pid: int) -> Optional[List[str]]:
    """/proc/<pid>/stat from field 3 (state) on, or None when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ')'
    return raw[raw.rindex(")") + 2 :].split()


def start_time(pid: int) -> Optional[int]:
    """The process's start time in clock ticks since boot (field 22), or None when it is gone."""
    fields = stat_fields(pid)
    return None if fields is None else int(fields[19])


def ppid_of(pid: int) -> Optional[int]:
    fields = stat_fields(pid)
    return None if fields is None else int(fields[1])


def all_pids() -> List[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def descendants(root: int) -> List[int]:
    """Every live descendant of ``root`` (not root itself)."""
    children: Dict[int, List[int]] = {}
    for pid in all_pids():
        parent = ppid_of(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    out: List[int] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def alive(pid: int, started: Optional[int] = None) -> bool:
    fields = stat_fields(pid)
    if fields is None or fields[0] == "Z":
        return False
    return started is None or int(fields[19]) == started


# ---------------------------------------------------------------------------------------------------------------------
# process bookkeeping
# ---------------------------------------------------------------------------------------------------------------------


class Registry:
    def __init__(self) -> None:
        self._known: Dict[int, Optional[int]] = {}  # pid -> start time

    def spawn(self, argv: List[str], **kwargs) -> subprocess.Popen:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
        self._known[proc.pid] = start_time(proc.pid)
        return proc

    def adopt(self, pids: Iterable[int]) -> None:
        for pid in pids:
            if pid not in self._known:
                st = start_time(pid)
                if st is not None:
                    self._known[pid] = st

    def adopt_tree(self, root: int) -> List[int]:
        tree = descendants(root)
        self.adopt(tree)
        return tree

    def _kill(self, pid: int, sig: int) -> None:
        if alive(pid, self._known.get(pid)):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15.0) -> Optional[int]:
        """Signal ``proc``, wait up to ``timeout`` s, then SIGKILL it and everything it started (by pid); its exit code."""
        tree = self.adopt_tree(proc.pid)
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # descendants that outlived it (they were reparented when it exited)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and any(alive(p, self._known.get(p)) for p in tree):
            time.sleep(0.05)
        for pid in [proc.pid, *tree]:
            self._kill(pid, signal.SIGKILL)
        try:
            return proc.wait(5)
        except subprocess.TimeoutExpired:
            return None

    def kill_all(self) -> None:
        for pid in list(self._known):
            self._kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and any(alive(p, s) for p, s in self._known.items()):
            time.sleep(0.05)
        for pid in list(self._known):
            self._kill(pid, signal.SIGKILL)


REGISTRY = Registry()
atexit.register(REGISTRY.kill_all)


def _on_signal(signum, _frame):  # pragma: no cover - only on an external stop
    REGISTRY.kill_all()
    # an interrupt, not an exit: pytest then ends the session and tears its fixtures down
    raise KeyboardInterrupt(signal.Signals(signum).name)


def install_signal_cleanup(*signums: int) -> None:
    """On these signals (default SIGTERM and SIGINT) end every recorded process, then raise KeyboardInterrupt."""
    for signum in signums or (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _on_signal)


# ---------------------------------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------------------------------


_handed_out: Set[int] = set()


def free_port(avoid: Iterable[int] = ()) -> int:
    """A free TCP port on 127.0.0.1: none of the stack's defaults, and never one handed out before."""
    reserved = RESERVED_PORTS | set(avoid)
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in reserved and port not in _handed_out:
            _handed_out.add(port)
            return port


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Exited(RuntimeError):
    """The process being waited for has exited: waiting longer cannot help."""


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last: Optional[BaseException] = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exited:
            raise
        except Exception as exc:  # noqa: BLE001 - keep polling
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}" + (f" (last error: {last!r})" if last else ""))


def make_tempdir(prefix: str, base: Optional[str] = None) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    path.chmod(0o755)  # the postgres OS user must reach its data folder inside
    return path


def minimal_env(**extra: Optional[str]) -> Dict[str, str]:
    """PATH, LANG, HOME (and TMPDIR, DOTNET_ROOT when set) plus ``extra``; an ``extra`` of None removes the name."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "HOME": os.environ.get("HOME", "/root")}
    for key in ("TMPDIR", "DOTNET_ROOT"):
        if key in os.environ:
            env[key] = os.environ[key]
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


# ---------------------------------------------------------------------------------------------------------------------
# the servers
# ---------------------------------------------------------------------------------------------------------------------


class _Server:
    """One launcher run, its output in ``log``."""

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, log: Path) -> None:
        self.log = log
        self.proc: Optional[subprocess.Popen] = None

    def _spawn(self, argv: Sequence[str], env: Dict[str, str]) -> subprocess.Popen:
        assert not self.running, f"{self.name} is running already"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = REGISTRY.spawn(list(argv), stdout=log, stderr=subprocess.STDOUT, env=env)
        return self.proc

    def _check_running(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise Exited(f"{self.name} exited ({self.proc.returncode}); see {self.log}:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None:
            REGISTRY.stop(self.proc, self.stop_signal, timeout=30)
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class Postgres(_Server):
    """postgres-server on 127.0.0.1:<port>, its cluster in ``base/data`` (created on the first start); ``settings``
    become ``-c name=value`` options. Stops with SIGINT (fast shutdown)."""

    name = "postgres"
    stop_signal = signal.SIGINT

    def __init__(self, base: Path, port: Optional[int] = None, user: str = "postgres", password: Optional[str] = None,
                 settings: Optional[Dict[str, str]] = None, initdb_args: str = ""):
        super().__init__(Path(base) / "postgres.log")
        self.base = Path(base)
        self.data = self.base / "data"
        self.port = port or free_port()
        self.user = user
        self.password = password or secrets.token_urlsafe(18)
        self.settings = dict(settings or {})
        self.initdb_args = initdb_args

    def spawn(self) -> subprocess.Popen:
        argv = [str(POSTGRES_SERVER)]
        for key, value in self.settings.items():
            argv += ["-c", f"{key}={value}"]
        return self._spawn(argv, minimal_env(
            PGDATA=str(self.data), PGPORT=str(self.port), POSTGRES_USER=self.user, POSTGRES_PASSWORD=self.password,
            POSTGRES_BIN=str(PG_BIN), POSTGRES_INITDB_ARGS=self.initdb_args or None))

    def ready(self) -> bool:
        self._check_running()
        import psycopg

        with psycopg.connect(self.superuser_dsn(), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True

    def start(self, timeout: float = 60.0) -> None:
        self.spawn()
        wait_until(self.ready, timeout, 0.02, f"postgres on port {self.port}")

    def superuser_dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user={self.user} password={self.password}"


class Redis(_Server):
    """redis-server (the launcher) on 127.0.0.1:<port>, its data in ``base``; ``args`` are redis-server options
    (by default no persistence)."""

    name = "redis"

    def __init__(self, base: Path, port: Optional[int] = None, password: Optional[str] = None,
                 args: Sequence[str] = ("--appendonly", "no", "--save", "")):
        super().__init__(Path(base) / "redis.log")
        self.base = Path(base)
        self.port = port or free_port()
        self.password = password or secrets.token_urlsafe(18)
        self.args = list(args)

    def spawn(self) -> subprocess.Popen:
        return self._spawn([str(REDIS_SERVER), *self.args], minimal_env(
            REDIS_DATA=str(self.base), REDIS_PORT=str(self.port), REDIS_PASSWORD=self.password))

    def ready(self) -> bool:
        self._check_running()
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=1)
        try:
            return client.ping() is True
        finally:
            client.close()

    def start(self, timeout: float = 10.0) -> None:
        self.spawn()
        wait_until(self.ready, timeout, 0.02, f"redis on port {self.port}")

    def url(self, db: int = 0) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/{db}"


def orchestrator_argv(python: str, port: int, app: Optional[str] = None) -> List[str]:
    """The orchestrator image's own command line (its Dockerfile's CMD: the uvicorn flags the client address and the
    WebSocket limits rest on), run by ``python`` on loopback and ``port``; ``app`` replaces the ASGI app."""
    line = next(l for l in ORCHESTRATOR_DOCKERFILE.read_text().splitlines() if l.startswith("CMD ["))
    argv = json.loads(line[len("CMD "):])
    assert argv[:3] == ["python3", "-m", "uvicorn"], argv
    argv[0] = python
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    if app is not None:
        argv[3] = app
    return argv
