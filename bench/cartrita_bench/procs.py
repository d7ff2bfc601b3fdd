"""Process measurements for the benchmarks, read from /proc: command lines, memory, CPU time.

The bookkeeping that ends every process the benchmarks start (``REGISTRY``, ``install_signal_cleanup``) and the small
helpers around it live in eng/local-servers/local_servers.py, shared with the orchestrator's tests; they are
re-exported here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

from local_servers import (  # noqa: F401 - re-exported
    REGISTRY,
    alive,
    all_pids,
    descendants,
    free_port,
    install_signal_cleanup,
    make_tempdir,
    minimal_env,
    port_open,
    start_time,
    stat_fields,
    wait_until,
)

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cmdline(pid: int) -> List[str]:
    try:
        return [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []


def _kib(path: str, key: str) -> int:
    """The KiB figure on the line ``key`` of a /proc file, 0 when the process is gone or the line is missing."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid: int) -> int:
    """Resident set size (VmRSS) in KiB, 0 when the process is gone."""
    return _kib(f"/proc/{pid}/status", "VmRSS:")


def pss_kib(pid: int) -> int:
    """Proportional set size in KiB (shared pages divided among the processes sharing them), 0 when unknown."""
    return _kib(f"/proc/{pid}/smaps_rollup", "Pss:")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (/proc/<pid>/stat fields 14 and 15)."""
    fields = stat_fields(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / _CLK_TCK
