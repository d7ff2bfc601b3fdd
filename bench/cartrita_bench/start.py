"""Start-up: `dotnet run --no-build` of the AppHost until the stack answers, against the same services started by
hand one after another along the critical path; and the resident memory of the orchestration layer meanwhile."""

from __future__ import annotations

import os
import secrets
import signal
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

from . import infra
from .infra import ROOT, Frontend, Orchestrator, Postgres, Redis, http_status, run_migrations
from .procs import REGISTRY, alive, start_time, all_pids, cmdline, descendants, free_port, minimal_env, port_open, pss_kib, rss_kib, wait_until

POLL = 0.025  # seconds between readiness probes, the same for both paths


class Milestones:
    """Polls readiness conditions, one thread each, and records when each first held (seconds since ``t0``)."""

    def __init__(self, t0: float, probes: Dict[str, Callable[[], bool]]):
        self.t0 = t0
        self.probes = dict(probes)
        self.times: Dict[str, float] = {}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(name, probe), daemon=True) for name, probe in self.probes.items()]

    def _run(self, name: str, probe: Callable[[], bool]) -> None:
        while not self._stop.is_set():
            try:
                ok = probe()
            except Exception:  # noqa: BLE001
                ok = False
            if ok:
                self.times[name] = time.perf_counter() - self.t0
                return
            time.sleep(POLL)

    def start(self) -> "Milestones":
        for thread in self._threads:
            thread.start()
        return self

    def wait(self, names: List[str], timeout: float, alive: Callable[[], bool] = lambda: True) -> bool:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if all(n in self.times for n in names):
                return True
            if not alive():
                return False
            time.sleep(POLL)
        return False

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)


def _classify(pid: int) -> str:
    args = cmdline(pid)
    joined = " ".join(args)
    exe = os.path.basename(args[0]) if args else ""
    if "Aspire.Dashboard" in joined:
        return "dashboard"
    if exe in ("dcp", "dcpctrl", "dcpproc") or "/dcp " in joined or joined.endswith("/dcp") or "dcpctrl" in joined or "dcpproc" in joined:
        return "dcp"
    if "Cartrita.AppHost" in joined and " run " not in f" {joined} ":
        return "apphost"
    if exe == "dotnet" and len(args) > 1 and args[1] == "run":
        return "dotnet-run"
    return "resource"


def stack_processes(root: int) -> List[int]:
    """Every process of one AppHost run: the `dotnet run` tree, plus DCP, which detaches (its processes are started
    with ``--monitor <AppHost pid>`` and re-parented to init) and everything DCP started (dashboard, resources)."""
    tree = descendants(root)
    hosts = {pid for pid in tree if _classify(pid) == "apphost"}
    found = [root, *tree]
    for pid in all_pids():
        args = cmdline(pid)
        if any(a == "--monitor" and i + 1 < len(args) and args[i + 1].isdigit() and int(args[i + 1]) in hosts
               for i, a in enumerate(args)) and pid not in found:
            found.append(pid)
            found.extend(p for p in descendants(pid) if p not in found)
    return found


def orchestration_rss(root: int) -> Dict[str, object]:
    """RSS (MiB) of the AppHost, DCP and dashboard processes of the run under ``root`` (`dotnet run`), from /proc."""
    groups: Dict[str, float] = {}
    pss: Dict[str, float] = {}
    procs: List[Dict[str, object]] = []
    for pid in stack_processes(root):
        kind = _classify(pid)
        mib = rss_kib(pid) / 1024.0
        pmib = pss_kib(pid) / 1024.0
        groups[kind] = groups.get(kind, 0.0) + mib
        pss[kind] = pss.get(kind, 0.0) + pmib
        args = cmdline(pid)
        procs.append({"pid": pid, "kind": kind, "rss_mib": round(mib, 1), "pss_mib": round(pmib, 1),
                      "cmd": " ".join([os.path.basename(args[0])] + args[1:2]) if args else "?"})
    layer = ("apphost", "dcp", "dashboard")
    return {"layer_mib": round(sum(groups.get(k, 0.0) for k in layer), 1),
            "layer_pss_mib": round(sum(pss.get(k, 0.0) for k in layer), 1),
            "by_kind_mib": {k: round(v, 1) for k, v in groups.items()},
            "by_kind_pss_mib": {k: round(v, 1) for k, v in pss.items()},
            "processes": procs}


def _environ(pid: int) -> Dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    out = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode(errors="replace")] = value.decode(errors="replace")
    return out


class ProcessWatch:
    """Finds the stack's processes in /proc as they start: ``spawned(name)`` / ``exited(name)`` probes."""

    def __init__(self, matchers: Dict[str, Callable[[int, List[str]], bool]]):
        self.matchers = matchers
        self.pids: Dict[str, tuple] = {}
        self.cmdlines: Dict[str, str] = {}
        self._last_scan = 0.0
        self._lock = threading.Lock()

    def _scan(self) -> None:
        with self._lock:
            now = time.perf_counter()
            if now - self._last_scan < 0.045 or len(self.pids) == len(self.matchers):
                return
            self._last_scan = now
            for pid in all_pids():
                args = None
                for name, match in self.matchers.items():
                    if name in self.pids:
                        continue
                    args = args if args is not None else cmdline(pid)
                    try:
                        if args and match(pid, args):
                            self.pids[name] = (pid, start_time(pid))
                            self.cmdlines[name] = " ".join(args)[:300]
                    except Exception:  # noqa: BLE001 - the process went away
                        pass

    def spawned(self, name: str) -> Callable[[], bool]:
        def probe() -> bool:
            self._scan()
            return name in self.pids
        return probe

    def exited(self, name: str) -> Callable[[], bool]:
        def probe() -> bool:
            self._scan()
            return name in self.pids and not alive(*self.pids[name])
        return probe


class AppHostRun:
    """One `dotnet run --no-build` of the AppHost in processes mode, on pinned free ports, data in ``data_dir``."""

    APPHOST_BINARY = ROOT / "Cartrita.AppHost" / "bin" / "Debug" / "net10.0" / "Cartrita.AppHost"

    def __init__(self, data_dir: Path, log_dir: Path, secrets_: Dict[str, str], direct: bool = False,
                 extra_env: Optional[Dict[str, str]] = None):
        self.direct = direct  # diagnostic: exec the built AppHost instead of `dotnet run --no-build`
        self.extra_env = dict(extra_env or {})
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.secrets = secrets_
        self.ports = {name: free_port() for name in ("postgres", "redis", "orchestrator", "frontend", "dashboard", "otlp", "resource")}
        self.proc: Optional[subprocess.Popen] = None

    def argv(self) -> List[str]:
        p = self.ports
        launcher = [str(self.APPHOST_BINARY)] if self.direct else \
            ["dotnet", "run", "--no-build", "--no-launch-profile", "--project", str(ROOT / "Cartrita.AppHost"), "--"]
        return [*launcher, "--Cartrita:Infrastructure=processes", f"--Cartrita:DataDirectory={self.data_dir}",
                f"--Cartrita:Ports:Postgres={p['postgres']}", f"--Cartrita:Ports:Redis={p['redis']}",
                f"--Cartrita:Ports:Orchestrator={p['orchestrator']}", f"--Cartrita:Ports:Frontend={p['frontend']}",
                "--Cartrita:Orchestrator:Reload=false"]

    def env(self) -> Dict[str, str]:
        p = self.ports
        env = minimal_env(
            DOTNET_ENVIRONMENT="Development", ASPNETCORE_ENVIRONMENT="Development",
            ASPNETCORE_URLS=f"http://127.0.0.1:{p['dashboard']}",
            ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL=f"http://127.0.0.1:{p['otlp']}",
            ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL=f"http://127.0.0.1:{p['resource']}",
            ASPIRE_ALLOW_UNSECURED_TRANSPORT="true",
            DOTNET_CLI_TELEMETRY_OPTOUT="1", DOTNET_NOLOGO="1", DOTNET_SKIP_FIRST_TIME_EXPERIENCE="1",
            NEXT_TELEMETRY_DISABLED="1")
        for name, value in self.secrets.items():
            env[f"Parameters__{name}"] = value
        env.update(self.extra_env)
        return env

    def run(self, timeout: float = 180.0, measure_memory: bool = True) -> Dict[str, object]:
        p = self.ports
        orch = f"http://127.0.0.1:{p['orchestrator']}"
        front = f"http://127.0.0.1:{p['frontend']}"
        log = open(self.log_dir / "apphost.log", "ab")
        t0 = time.perf_counter()
        self.proc = REGISTRY.spawn(self.argv(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=self.env())
        log.close()
        pg_port, orch_port, front_port = str(p["postgres"]), str(p["orchestrator"]), str(p["frontend"])
        data_arg = f"--Cartrita:DataDirectory={self.data_dir}"
        watch = ProcessWatch({
            "apphost": lambda pid, a: os.path.basename(a[0]) == "Cartrita.AppHost" and data_arg in a,
            "dcp": lambda pid, a: os.path.basename(a[0]) == "dcp" and "start-apiserver" in a
            and "apphost" in watch.pids and str(watch.pids["apphost"][0]) in a,
            "migrations": lambda pid, a: any("Cartrita.MigrationService" in x for x in a)
            and f"Port={pg_port}" in _environ(pid).get("ConnectionStrings__cartrita", ""),
            "orchestrator": lambda pid, a: "uvicorn" in a and orch_port in a,
            "frontend": lambda pid, a: os.path.basename(a[0]) == "node" and _environ(pid).get("PORT") == front_port,
        })
        ms = Milestones(t0, {
            "AppHost process started": watch.spawned("apphost"),
            "DCP started": watch.spawned("dcp"),
            "dashboard listening": lambda: port_open(p["dashboard"]),
            "postgres listening": lambda: port_open(p["postgres"]),
            "redis listening": lambda: port_open(p["redis"]),
            "migrations started": watch.spawned("migrations"),
            "migrations exited": watch.exited("migrations"),
            "orchestrator started": watch.spawned("orchestrator"),
            "orchestrator listening": lambda: port_open(p["orchestrator"]),
            "orchestrator /health 200": lambda: http_status(orch + "/health", 1) == 200,
            "frontend started": watch.spawned("frontend"),
            "frontend listening": lambda: port_open(p["frontend"]),
            "frontend /api/health 200": lambda: http_status(front + "/api/health", 2) == 200,
        }).start()
        result: Dict[str, object] = {"ports": p}
        try:
            ok = ms.wait(["orchestrator /health 200", "frontend /api/health 200"], timeout, lambda: self.proc.poll() is None)
            ms.stop()
            result["milestones_s"] = {k: round(v, 3) for k, v in sorted(ms.times.items(), key=lambda kv: kv[1])}
            result["commands"] = dict(watch.cmdlines)
            if not ok:
                raise RuntimeError(f"the AppHost stack was not up after {timeout:g}s (exit {self.proc.poll()}); see {self.log_dir / 'apphost.log'}")
            result["seconds"] = round(max(ms.times["orchestrator /health 200"], ms.times["frontend /api/health 200"]), 3)
            REGISTRY.adopt(stack_processes(self.proc.pid))
            if measure_memory:
                result["memory_at_ready"] = orchestration_rss(self.proc.pid)
                time.sleep(5.0)  # settle: first health-check rounds, dashboard warm
                result["memory"] = orchestration_rss(self.proc.pid)
                REGISTRY.adopt(stack_processes(self.proc.pid))
        finally:
            ms.stop()
            result["stop_seconds"] = round(self.stop(), 2)
            result["stop_killed_leftovers"] = getattr(self, "leftovers", 0)
        return result

    def stop(self) -> float:
        """SIGTERM to the AppHost process (what Ctrl+C does), then wait until every process of the run is gone (DCP
        stops the resources after the AppHost exits); whatever is left after 30 s is killed by pid."""
        if self.proc is None:
            return 0.0
        t = time.perf_counter()
        everything = stack_processes(self.proc.pid)
        REGISTRY.adopt(everything)
        started = {pid: start_time(pid) for pid in everything}
        apphost = [pid for pid in everything if _classify(pid) == "apphost"]
        for pid in apphost or [self.proc.pid]:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline and any(alive(pid, st) for pid, st in started.items()):
            time.sleep(0.05)
        elapsed = time.perf_counter() - t
        leftovers = [pid for pid, st in started.items() if alive(pid, st)]
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        REGISTRY.stop(self.proc, timeout=1)
        self.leftovers = len(leftovers)
        self.proc = None
        return elapsed


class ByHandRun:
    """The same services started by hand, one after another along the critical path."""

    def __init__(self, base: Path, pg: Postgres):
        self.base = base
        self.pg = pg

    def run(self, timeout: float = 120.0) -> Dict[str, object]:
        pg = self.pg
        redis = Redis(self.base / "redis")
        orch = Orchestrator(self.base, pg, redis, env={"CARTRITA_ENV": "development"})
        front = Frontend(self.base, orch.base_url, orch.api_key)
        times: Dict[str, float] = {}
        t0 = time.perf_counter()
        try:
            redis.spawn()  # off the critical path, like the AppHost starts it next to postgres
            pg.spawn()
            wait_until(lambda: _pg_db_ready(pg), timeout, POLL, "postgres")
            times["postgres ready"] = time.perf_counter() - t0
            run_migrations(pg, self.base / "migrations.log")
            times["migrations finished"] = time.perf_counter() - t0
            orch.spawn()
            wait_until(orch.healthy, timeout, POLL, "orchestrator /health 200")
            times["orchestrator /health 200"] = time.perf_counter() - t0
            front.spawn()
            wait_until(front.healthy, timeout, POLL, "frontend /api/health 200")
            times["frontend /api/health 200"] = time.perf_counter() - t0
        finally:
            front.stop()
            orch.stop()
            redis.stop()
            pg.stop()
        return {"seconds": round(times["frontend /api/health 200"], 3), "milestones_s": {k: round(v, 3) for k, v in times.items()}}


def _pg_db_ready(pg: Postgres) -> bool:
    import psycopg

    with psycopg.connect(pg.dsn(), connect_timeout=1) as conn:
        conn.execute("SELECT 1")
    return True


def frontend_build_is_stale() -> Optional[str]:
    """The first frontend source newer than its production build (the AppHost's rule), or None when the build is current."""
    front = ROOT / "frontend"
    build_id = front / ".next" / "BUILD_ID"
    if not build_id.exists() or not (front / ".next" / "standalone" / "server.js").exists():
        return ".next/BUILD_ID missing"
    built = build_id.stat().st_mtime
    skip = {"node_modules", ".next", "test-results", "playwright-report", "coverage"}
    for dirpath, dirnames, filenames in os.walk(front):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for f in filenames:
            path = Path(dirpath) / f
            try:
                if path.stat().st_mtime > built:
                    return str(path.relative_to(front))
            except OSError:
                pass
    return None


def bench_start(work: Path, repeats: int = 3, log=print) -> Dict[str, object]:
    """Warm-up AppHost run (creates the cluster, migrates, rebuilds the frontend if stale), then ``repeats`` pairs of
    runs, interleaved AppHost / by hand, each from stopped processes with an initialised, migrated data folder."""
    work.mkdir(parents=True, exist_ok=True)
    secrets_ = {
        "postgres-password": secrets.token_urlsafe(24),
        "redis-password": secrets.token_urlsafe(24),
        "jwt-secret": secrets.token_urlsafe(48),
        "cartrita-api-key": secrets.token_urlsafe(32),
    }
    stale = frontend_build_is_stale()
    apphost_dir = work / "apphost-data"
    log(f"  start: warm-up AppHost run (initdb, migrations{', next build: ' + stale + ' changed' if stale else ''})")
    warm = AppHostRun(apphost_dir, work, secrets_).run(timeout=600, measure_memory=False)

    # by hand: a cluster prepared the way the AppHost leaves its own (initialised, database created, migrated)
    hand_base = work / "byhand"
    pg = Postgres(hand_base / "pg", password=secrets_["postgres-password"], settings={})
    pg.start()
    pg.create_database()
    run_migrations(pg, hand_base / "migrations.log")
    pg.stop()

    apphost_runs, hand_runs = [], []
    for i in range(repeats):
        log(f"  start: AppHost run {i + 1}/{repeats}")
        apphost_runs.append(AppHostRun(apphost_dir, work, secrets_).run())
        log(f"  start: by-hand run {i + 1}/{repeats}")
        pg.port = free_port()
        hand_runs.append(ByHandRun(hand_base, pg).run())

    def medians(runs):
        names = {n for r in runs for n in r["milestones_s"]}
        return {n: round(statistics.median(r["milestones_s"][n] for r in runs if n in r["milestones_s"]), 2)
                for n in sorted(names, key=lambda n: statistics.median(r["milestones_s"].get(n, 1e9) for r in runs))}

    am = medians(apphost_runs)
    hops = {}
    for label, a_, b_ in (("`dotnet run --no-build` until the AppHost process starts", None, "AppHost process started"),
                          ("AppHost start -> DCP started", "AppHost process started", "DCP started"),
                          ("DCP started -> postgres listening", "DCP started", "postgres listening"),
                          ("postgres listening -> migration worker started (WaitFor database healthy)", "postgres listening", "migrations started"),
                          ("migration worker run", "migrations started", "migrations exited"),
                          ("migrations exited -> uvicorn started (WaitForCompletion)", "migrations exited", "orchestrator started"),
                          ("uvicorn started -> /health 200", "orchestrator started", "orchestrator /health 200"),
                          ("/health 200 -> node started (WaitFor orchestrator healthy)", "orchestrator /health 200", "frontend started"),
                          ("node started -> /api/health 200", "frontend started", "frontend /api/health 200")):
        if b_ in am and (a_ is None or a_ in am):
            hops[label] = round(am[b_] - (am[a_] if a_ else 0.0), 2)
    for label, value in hops.items():
        log(f"    {value:6.2f} s  {label}")
    a = statistics.median(r["seconds"] for r in apphost_runs)
    h = statistics.median(r["seconds"] for r in hand_runs)
    mem = statistics.median(r["memory"]["layer_mib"] for r in apphost_runs)
    mem_pss = statistics.median(r["memory"]["layer_pss_mib"] for r in apphost_runs)
    return {
        "apphost_median_s": a, "byhand_median_s": h, "ratio": round(a / h, 2),
        "memory_layer_median_mib": mem, "memory_layer_pss_median_mib": mem_pss,
        "apphost_milestones_median_s": am, "apphost_hops_s": hops, "byhand_milestones_median_s": medians(hand_runs),
        "frontend_rebuilt_in_warmup": stale,
        "warmup": warm, "apphost_runs": apphost_runs, "byhand_runs": hand_runs,
    }
