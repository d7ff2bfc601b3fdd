"""wrk load: GET /health of the orchestrator against a bare FastAPI hello app on the same uvicorn, and POST /api/chat."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

from .infra import http_status
from .procs import cpu_seconds, minimal_env

BENCH_DIR = Path(__file__).resolve().parents[1]
WRK_DIR = BENCH_DIR / "wrk"


def wrk(url: str, script: str, seconds: int, connections: int = 32, threads: int = 2, env: Optional[Dict[str, str]] = None,
        server_pid: Optional[int] = None) -> Dict[str, object]:
    """One wrk run; with ``server_pid`` also the server's CPU time per request (robust to a busy machine)."""
    exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk is not installed: apt-get install -y --no-install-recommends wrk")
    argv = [exe, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(WRK_DIR / script), url]
    cpu0 = cpu_seconds(server_pid) if server_pid else 0.0
    res = subprocess.run(argv, capture_output=True, text=True, env=minimal_env(**(env or {})), timeout=seconds + 60)
    cpu = cpu_seconds(server_pid) - cpu0 if server_pid else None
    line = next((l for l in res.stdout.splitlines() if l.startswith("WRK_JSON ")), None)
    if res.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}")
    data = json.loads(line[len("WRK_JSON "):])
    secs = data["duration_us"] / 1e6
    errors = data["errors"]
    return {
        "requests": data["requests"],
        "rps": round(data["requests"] / secs, 1),
        "p50_ms": round(data["latency_us"]["p50"] / 1000, 2),
        "p90_ms": round(data["latency_us"]["p90"] / 1000, 2),
        "p99_ms": round(data["latency_us"]["p99"] / 1000, 2),
        "max_ms": round(data["latency_us"]["max"] / 1000, 2),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "server_cpu_us_per_request": round(cpu * 1e6 / data["requests"], 1) if cpu is not None and data["requests"] else None,
    }


def bench_health(orchestrator_url: str, hello_url: str, rounds: int = 3, seconds: int = 8, log=print,
                 orchestrator_pid: Optional[int] = None, hello_pid: Optional[int] = None) -> Dict[str, object]:
    """Interleaved rounds (hello, /health) so both see the same background load; the ratio is the median over the
    rounds. Also the servers' CPU time per request, which a busy machine distorts far less."""
    for url in (hello_url, orchestrator_url):
        wrk(url + "/health", "get.lua", 2)  # warm-up
    rounds_out: List[Dict[str, object]] = []
    for i in range(rounds):
        one: Dict[str, object] = {}
        targets = [("hello", hello_url, hello_pid), ("health", orchestrator_url, orchestrator_pid)]
        # alternate the order every round, so neither server always runs first
        for key, url, pid in targets[i % len(targets):] + targets[:i % len(targets)]:
            one[key] = wrk(url + "/health", "get.lua", seconds, server_pid=pid)
        one["ratio"] = round(one["health"]["rps"] / (one["hello"]["rps"] or 1.0), 3)
        log(f"  /health round {i + 1}: hello {one['hello']['rps']:.0f} req/s, /health {one['health']['rps']:.0f} (x{one['ratio']:.2f}, "
            f"p99 {one['health']['p99_ms']} ms); server CPU us/request {one['hello']['server_cpu_us_per_request']} / "
            f"{one['health']['server_cpu_us_per_request']}")
        rounds_out.append(one)

    def med(kind: str, key: str):
        return _median_or_none(r[kind][key] for r in rounds_out if kind in r)

    out = {
        "ratio": statistics.median(r["ratio"] for r in rounds_out),
        "health_rps": med("health", "rps"), "hello_rps": med("hello", "rps"),
        "health_p99_ms": med("health", "p99_ms"), "hello_p99_ms": med("hello", "p99_ms"),
        "health_errors": sum(r["health"]["errors"] for r in rounds_out),
        "hello_cpu_us_per_request": med("hello", "server_cpu_us_per_request"),
        "health_cpu_us_per_request": med("health", "server_cpu_us_per_request"),
        "rounds": rounds_out,
    }
    # what the ratio would be if each server had the CPU to itself: hello's CPU time per request / this one's
    if out["hello_cpu_us_per_request"] and out["health_cpu_us_per_request"]:
        out["cpu_ratio"] = round(out["hello_cpu_us_per_request"] / out["health_cpu_us_per_request"], 2)
    return out


def _median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def health_follows_dependencies(urls: Dict[str, str], redis) -> Dict[str, object]:
    """Stop Redis: every /health must turn 503 (within the probe cache); start it again: back to 200. Seconds taken."""
    out: Dict[str, object] = {}
    for name, url in urls.items():
        assert http_status(url + "/health") == 200, f"{name} /health is not 200 before the test"
    redis.stop()
    out["redis_down_detected_s"] = _until(urls, 503, 15)
    redis.start()
    out["redis_up_detected_s"] = _until(urls, 200, 30)
    return out


def _until(urls: Dict[str, str], status: int, timeout: float) -> Dict[str, Optional[float]]:
    t = time.perf_counter()
    pending = dict(urls)
    seen: Dict[str, Optional[float]] = {}
    while pending and time.perf_counter() - t < timeout:
        for name, url in list(pending.items()):
            if http_status(url + "/health", 5) == status:
                seen[name] = round(time.perf_counter() - t, 2)
                del pending[name]
        time.sleep(0.02)
    seen.update({name: None for name in pending})
    return seen


def bench_chat(orchestrator_url: str, token: str, seconds: int = 15, log=print, orchestrator_pid: Optional[int] = None) -> Dict[str, object]:
    wrk(orchestrator_url + "/api/chat", "chat.lua", 2, env={"BENCH_TOKEN": token})  # warm-up
    res = wrk(orchestrator_url + "/api/chat", "chat.lua", seconds, env={"BENCH_TOKEN": token}, server_pid=orchestrator_pid)
    log(f"  /api/chat: {res['rps']:.0f} req/s, p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms, errors {res['errors']}")
    return res
