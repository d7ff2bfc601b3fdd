"""Dependency health probes with a short cache and a shared in-flight probe.

``HealthMonitor`` runs every registered probe concurrently, each bounded by
a timeout, caches the combined result for ``cache_ttl`` seconds and lets
concurrent callers share the one probe that is running. New dependencies are
added with :meth:`HealthMonitor.register` (a later issue adds more).

A probe is ``async def probe(timeout: float) -> str``: it returns a short
detail on success and raises on failure. It must bound itself by ``timeout``
(socket / pool timeouts); the monitor additionally stops *waiting* for it
after ``timeout + grace`` but never cancels it, because cancelling a
psycopg-pool ``getconn()`` or a redis-py 4.3 command mid-flight can leak a
connection or leave an unread reply on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Dict, Optional

from .logging_setup import scrubber

log = logging.getLogger("cartrita.orchestrator.health")

Probe = Callable[[float], Awaitable[str]]

STATUS_OK = "ok"
STATUS_ERROR = "error"

_MAX_DETAIL = 300


class ProbeError(Exception):
    """A probe failure whose message is already fit for the health output."""


@dataclass(frozen=True)
class CheckResult:
    status: str
    latency_ms: float
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def as_dict(self) -> dict:
        return {"status": self.status, "latency_ms": self.latency_ms, "detail": self.detail}


@dataclass(frozen=True)
class HealthReport:
    checks: Dict[str, CheckResult]
    checked_at: float  # time.monotonic()

    @property
    def healthy(self) -> bool:
        return all(c.ok for c in self.checks.values())


def describe_error(exc: BaseException) -> str:
    """First line of an exception, scrubbed and shortened, for the output."""
    if isinstance(exc, ProbeError):
        text = str(exc)
    else:
        first = (str(exc).strip().splitlines() or [""])[0].strip()
        text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    text = scrubber(text)
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 3] + "..."
    return text


class HealthMonitor:
    def __init__(
        self,
        timeout: float = 1.0,
        cache_ttl: float = 1.0,
        grace: float = 0.5,
        on_result: Optional[Callable[[str, CheckResult], None]] = None,
    ):
        self.timeout = timeout
        self.cache_ttl = cache_ttl
        self.grace = grace
        self._on_result = on_result
        self._probes: Dict[str, Probe] = {}
        self._cached: Optional[HealthReport] = None
        self._inflight: Optional["asyncio.Future[HealthReport]"] = None
        self._last_status: Dict[str, str] = {}
        self._stragglers: set = set()

    def register(self, name: str, probe: Probe) -> None:
        self._probes[name] = probe
        self._cached = None

    @property
    def names(self):
        return list(self._probes)

    async def check(self) -> HealthReport:
        """Current report: cached if fresh, else the shared in-flight probe."""
        cached = self._cached
        if cached is not None and time.monotonic() - cached.checked_at < self.cache_ttl:
            return cached
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._probe_all())
        # shield: a client that disconnects must not cancel the shared probe
        return await asyncio.shield(self._inflight)

    async def _probe_all(self) -> HealthReport:
        names = list(self._probes)
        results = await asyncio.gather(*(self._run_one(n, self._probes[n]) for n in names))
        report = HealthReport(checks=dict(zip(names, results)), checked_at=time.monotonic())
        self._cached = report
        for name, result in report.checks.items():
            self._note(name, result)
        return report

    async def _run_one(self, name: str, probe: Probe) -> CheckResult:
        t0 = time.perf_counter()
        task = asyncio.ensure_future(probe(self.timeout))
        done, _ = await asyncio.wait({task}, timeout=self.timeout + self.grace)
        latency_ms = round((time.perf_counter() - t0) * 1000.0, 1)
        if not done:
            # let it finish on its own; just make sure its outcome is consumed
            self._stragglers.add(task)
            task.add_done_callback(self._forget_straggler)
            return CheckResult(STATUS_ERROR, latency_ms, f"timed out after {self.timeout:g}s")
        exc = task.exception()
        if exc is not None:
            return CheckResult(STATUS_ERROR, latency_ms, describe_error(exc))
        return CheckResult(STATUS_OK, latency_ms, scrubber(str(task.result())))

    def _forget_straggler(self, task: "asyncio.Task") -> None:
        self._stragglers.discard(task)
        if not task.cancelled():
            task.exception()  # mark retrieved

    def _note(self, name: str, result: CheckResult) -> None:
        previous = self._last_status.get(name)
        self._last_status[name] = result.status
        if previous != result.status:
            if result.ok:
                log.info("dependency %s is up (%s, %.1f ms)", name, result.detail, result.latency_ms)
            else:
                log.warning("dependency %s is DOWN: %s", name, result.detail)
        if self._on_result is not None:
            try:
                self._on_result(name, result)
            except Exception:  # metrics must never break health
                log.exception("health result hook failed")
