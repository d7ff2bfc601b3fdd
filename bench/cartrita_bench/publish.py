"""Publish: eng/publish.sh manifest, compose and k8s, timed together (median of repeats after one warm-up run that
may build the projects)."""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path
from typing import Dict, List

from .infra import ROOT

PUBLISH = ROOT / "eng" / "publish.sh"
TARGETS = ("manifest", "compose", "k8s")


def _run(target: str, log_path: Path) -> float:
    t = time.perf_counter()
    with open(log_path, "ab") as out:
        res = subprocess.run(["bash", str(PUBLISH), target], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(f"eng/publish.sh {target} exited {res.returncode}; see {log_path}")
    return time.perf_counter() - t


def bench_publish(work: Path, repeats: int = 3, log=print) -> Dict[str, object]:
    if not PUBLISH.exists():
        return {"available": False, "reason": "eng/publish.sh missing"}
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "publish.log"
    t = time.perf_counter()
    for target in TARGETS:  # warm-up: builds what is out of date, writes what changed
        _run(target, log_path)
    warmup = time.perf_counter() - t
    runs: List[Dict[str, float]] = []
    for _ in range(repeats):
        one = {target: round(_run(target, log_path), 2) for target in TARGETS}
        one["total"] = round(sum(one.values()), 2)
        runs.append(one)
    log(f"  publish: manifest+compose+k8s {statistics.median(r['total'] for r in runs):.2f} s (median of {repeats})")
    # diagnostics: the same work in one converter run, and the manifest without `dotnet run`
    diag: Dict[str, object] = {}
    try:
        diag["all_s"] = round(_run("all", log_path), 2)
    except Exception as exc:  # noqa: BLE001
        diag["all_error"] = repr(exc)
    apphost = ROOT / "Cartrita.AppHost" / "bin" / "Debug" / "net10.0" / "Cartrita.AppHost"
    if apphost.exists():
        t = time.perf_counter()
        res = subprocess.run([str(apphost), "--publisher", "manifest", "--output-path", str(work / "manifest-direct.json")],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
        if res.returncode == 0:
            diag["manifest_direct_executable_s"] = round(time.perf_counter() - t, 2)
    log("  publish diagnostics: " + ", ".join(f"{k} {v}" for k, v in diag.items()))
    return {"available": True, "warmup_s": round(warmup, 2), "runs": runs, "diagnostics": diag,
            "median_total_s": statistics.median(r["total"] for r in runs),
            "median_by_target_s": {t: statistics.median(r[t] for r in runs) for t in TARGETS}}
