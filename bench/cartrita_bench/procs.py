"""Process bookkeeping: every process the benchmarks start is recorded and ended by its id.

Processes are started in their own session (pid == process group id). ``stop`` signals the process, waits, then
kills whatever is left of its group *and* of its descendants (found through /proc), each by pid. Aspire's DCP starts
the stack's processes in groups of their own, so ``adopt_tree`` records a process tree while it runs; ``kill_all``
(at exit, also on SIGTERM/SIGINT) ends every recorded pid whose start time still matches, so a reused pid is never hit.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def start_time(pid: int) -> Optional[int]:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ')'
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[19])


def ppid_of(pid: int) -> Optional[int]:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(raw[raw.rindex(")") + 2 :].split()[1])


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


def cmdline(pid: int) -> List[str]:
    try:
        return [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []


def rss_kib(pid: int) -> int:
    """Resident set size (VmRSS) in KiB, 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (/proc/<pid>/stat fields 14 and 15)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def pss_kib(pid: int) -> int:
    """Proportional set size in KiB (shared pages divided among the processes sharing them), 0 when unknown."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def alive(pid: int, started: Optional[int] = None) -> bool:
    st = start_time(pid)
    if st is None:
        return False
    if started is not None and st != started:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
        return state[state.rindex(")") + 2] != "Z"
    except OSError:
        return False


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
        """Signal ``proc``, wait up to ``timeout`` s, then SIGKILL it and everything it started (by pid)."""
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


def _on_signal(signum, _frame):  # pragma: no cover - interactive interrupt
    REGISTRY.kill_all()
    sys.exit(128 + signum)


def install_signal_cleanup() -> None:
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


def free_port(avoid: Iterable[int] = ()) -> int:
    """A free TCP port on 127.0.0.1 that is none of the stack's default ports."""
    reserved = {3000, 5432, 6379, 8000, 15080, 19080, 20080, *avoid}
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in reserved and port not in _handed_out:
            _handed_out.add(port)
            return port


_handed_out: Set[int] = set()


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last: Optional[BaseException] = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}" + (f" (last error: {last!r})" if last else ""))


def make_tempdir(prefix: str, base: Optional[str] = None) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    path.chmod(0o755)  # the postgres OS user must reach its data folder inside
    return path


def minimal_env(**extra: Optional[str]) -> Dict[str, str]:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
    for key in ("TMPDIR", "DOTNET_ROOT"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update({k: v for k, v in extra.items() if v is not None})
    return env
