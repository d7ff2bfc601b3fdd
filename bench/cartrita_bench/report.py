"""The table (measure, reference, result, goal, pass/fail), the JSON file and the figures block of BENCHMARKS.md."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Optional

Row = Dict[str, object]

BEGIN = "<!-- bench:latest -->"
END = "<!-- /bench:latest -->"


def row(measure: str, reference: str, result: str, goal: str, passed: Optional[bool]) -> Row:
    return {"measure": measure, "reference": reference, "result": result, "goal": goal,
            "pass": passed, "verdict": "n/a" if passed is None else ("pass" if passed else "FAIL")}


def rows_from(results: Dict[str, object]) -> List[Row]:
    out: List[Row] = []
    start = results.get("start")
    if isinstance(start, dict) and "apphost_median_s" in start:
        a, h, r = start["apphost_median_s"], start["byhand_median_s"], start["ratio"]
        out.append(row(f"Start: AppHost `dotnet run --no-build` until stack answers (median of {len(start.get('apphost_runs', []))})",
                       f"by hand {h:.2f} s", f"{a:.2f} s ({r:.2f}x)", "<= 1.3x and <= 12 s", r <= 1.3 and a <= 12.0))
    elif start is not None:
        out.append(row("Start", "-", _error(start), "<= 1.3x and <= 12 s", False))

    search = results.get("search")
    if isinstance(search, dict) and "chosen" in search:
        c = search["chosen"]
        out.append(row(f"Search p50, top-10 of {search['n']:,} x 1536, HNSW (ef_search {c['ef_search']})",
                       f"exact {search['exact_p50_ms']:.0f} ms", f"{c['p50_ms']:.2f} ms (server CPU {c.get('backend_cpu_ms_per_query', 0):.2f} ms/query)",
                       "<= 5 ms", c["p50_ms"] <= 5.0))
        sb = search.get("with_shared_buffers")
        if sb:
            top = max(sb["ladder"], key=lambda e: e["ef_search"])
            out.append(row(f"(before) same search, shared_buffers {sb['shared_buffers']} (the AppHost: 1GB)"
                           if sb["shared_buffers"] != "1GB" else f"(investigation) same search, shared_buffers {sb['shared_buffers']} (default 128MB)",
                           f"exact {search['exact_p50_ms']:.0f} ms",
                           f"{top['p50_ms']:.2f} ms at ef_search {top['ef_search']} (server CPU {top['backend_cpu_ms_per_query']:.2f} ms/query)",
                           "<= 5 ms", None))
        out.append(row("Search recall@10", f"exact answers ({search['queries']} queries)", f"{c['recall_at_10']:.3f}",
                       ">= 0.95", c["recall_at_10"] >= 0.95))
        d = search.get("orchestrator_default")
        if d:
            out.append(row(f"(setting) Search at the orchestrator's default ef_search {d['ef_search']} (MEMORY_EF_SEARCH)",
                           f"exact answers ({search['queries']} queries)",
                           f"recall@10 {d['recall_at_10']:.3f}, p50 {d['p50_ms']:.2f} ms", "recall >= 0.95", None))
        out.append(row("Search speedup vs exact scan", f"exact {search['exact_p50_ms']:.0f} ms", f"{search['speedup']:.0f}x",
                       ">= 20x", search["speedup"] >= 20))
    elif search is not None:
        out.append(row("Search", "-", _error(search), "p50 <= 5 ms, recall >= 0.95, >= 20x", False))

    ingest = results.get("ingest")
    if isinstance(ingest, dict) and "api" in ingest:
        api = ingest["api"]
        out.append(row(f"Ingest via POST /api/memory ({api['vectors']:,} x 256-item batches, index live)", "-",
                       f"{api['vectors_per_s']:,.0f} vectors/s" + (f", {api['errors']} errors" if api["errors"] else ""),
                       ">= 2,000 vectors/s", api["vectors_per_s"] >= 2000 and not api["errors"]))
        bulk = ingest.get("bulk")
        if bulk:
            rebuilt = f"index rebuilt over {bulk['index_rows']:,} rows" if bulk.get("rebuilt_indexes") else "index kept live"
            out.append(row(f"Ingest bulk: import-memories ({bulk['vectors']:,}; local embed + binary COPY, HNSW after)", "-",
                           f"{bulk['embed_and_load_per_s']:,.0f} vectors/s; + {rebuilt} in {bulk['index_s']:.0f} s "
                           f"= {bulk['load_and_index_per_s']:,.0f}/s overall",
                           ">= 2,000 vectors/s", bulk["embed_and_load_per_s"] >= 2000))
    elif ingest is not None:
        out.append(row("Ingest", "-", _error(ingest), ">= 2,000 vectors/s", False))

    http = results.get("http")
    if isinstance(http, dict) and "health" in http:
        hh = http["health"]
        out.append(row("GET /health under wrk -c32: req/s", f"bare FastAPI {hh['hello_rps']:,.0f} req/s",
                       f"{hh['health_rps']:,.0f} req/s ({hh['ratio']:.2f}x)" + _cpu(hh.get("cpu_ratio")), ">= 0.9x", hh["ratio"] >= 0.9))
        out.append(row("GET /health under wrk -c32: p99", f"bare FastAPI {hh['hello_p99_ms']:.1f} ms",
                       f"{hh['health_p99_ms']:.1f} ms", "<= 25 ms", hh["health_p99_ms"] <= 25.0 and hh["health_errors"] == 0))
        dep = http.get("dependencies", {})
        if dep:
            down = (dep.get("redis_down_detected_s") or {}).get("orchestrator")
            up = (dep.get("redis_up_detected_s") or {}).get("orchestrator")
            ok = down is not None and up is not None
            out.append(row("GET /health follows db/redis state", "redis stopped, then started",
                           f"503 after {down} s, 200 again after {up} s" if ok else "did not follow", "reflects state", ok))
        ch = http.get("chat")
        if ch:
            out.append(row("POST /api/chat (local provider) under wrk -c32", "-",
                           f"{ch['rps']:,.0f} req/s, p99 {ch['p99_ms']:.0f} ms, {ch['errors']} errors",
                           "report; 0 errors", ch["errors"] == 0 and ch["requests"] > 0))
    elif http is not None:
        out.append(row("HTTP (wrk)", "-", _error(http), "see issue", False))

    pub = results.get("publish")
    if isinstance(pub, dict) and pub.get("available"):
        t = pub["median_total_s"]
        out.append(row(f"Publish manifest + compose + k8s (median of {len(pub.get('runs', []))})", "-", f"{t:.2f} s", "<= 5 s", t <= 5.0))
    elif isinstance(pub, dict) and not pub.get("available", True):
        out.append(row("Publish manifest + compose + k8s", "-", f"n/a ({pub.get('reason')})", "<= 5 s", None))
    elif pub is not None:
        out.append(row("Publish manifest + compose + k8s", "-", _error(pub), "<= 5 s", False))

    out.extend(_image_rows(results.get("images")))

    if isinstance(start, dict) and "memory_layer_median_mib" in start:
        m = start["memory_layer_median_mib"]
        pss = start.get("memory_layer_pss_median_mib")
        # Resident memory as PSS: a page shared by several processes (DCP's per-executable monitors map one Go binary)
        # counts once in total, not once per process as a sum of RSS would count it. Both are shown.
        if pss:
            out.append(row("Memory: AppHost + DCP + dashboard resident (PSS), stack up", "-",
                           f"{pss:,.0f} MiB (sum of RSS {m:,.0f} MiB)", "<= 600 MB", pss * 1.048576 <= 600))
        else:
            out.append(row("Memory: AppHost + DCP + dashboard RSS, stack up", "-", f"{m:,.0f} MiB", "<= 600 MB", m * 1.048576 <= 600))
    return out


def _image_rows(images: object) -> List[Row]:
    """Issue 14: each image's build (cold, cached) and size beside the seed's Dockerfile; the published stack's times."""
    if images is None:
        return []
    if not isinstance(images, dict) or "error" in images:
        return [row("Images", "-", _error(images), "reported", False)]
    if not images.get("available"):
        return [row("Images", "-", f"n/a ({images.get('reason')})", "reported", None)]
    out: List[Row] = []
    for service, measured in images["images"].items():
        now, seed = measured.get("current", {}), measured.get("seed")
        if "error" in now:
            out.append(row(f"Image {service}", "-", _error(now), "builds", False))
            continue
        reference = "-"
        if seed and "error" not in seed:
            reference = f"seed {seed['commit']}: {seed['cold_s']:.0f} s cold, {seed['size_mb']:.0f} MB"
        out.append(row(f"Image {service}: build cold / cached, size", reference,
                       f"{now['cold_s']:.0f} s / {now['cached_s']:.1f} s, {now['size_mb']:.0f} MB", "reported", None))
    for engine, figures in sorted(images.get("stack", {}).items()):
        if "up_cold_seconds" in figures:
            out.append(row(f"Compose `up` to all healthy ({engine})", "-",
                           f"{figures['up_cold_seconds']:.0f} s (again after down: {figures.get('up_warm_seconds', 0):.0f} s)",
                           "reported", None))
        if "stop_seconds" in figures:
            out.append(row(f"Compose `stop` ({engine})", "-", f"{figures['stop_seconds']:.1f} s", "< 10 s, no SIGKILL",
                           figures["stop_seconds"] < 10 and 137 not in figures.get("stop_exit_codes", {}).values()))
    return out


def _cpu(ratio) -> str:
    return f"; by CPU time per request {ratio:.2f}x" if ratio else ""


def _error(section: object) -> str:
    if isinstance(section, dict) and "error" in section:
        return f"error: {section['error']}"[:120]
    return "error"


def table(rows: List[Row], markdown: bool = False) -> str:
    heads = ["Measure", "Reference (same run)", "Result", "Goal", "Pass"]
    cells = [[str(r["measure"]), str(r["reference"]), str(r["result"]), str(r["goal"]), str(r["verdict"])] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells_) + " |" for cells_ in cells]
        return "\n".join(lines)
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(heads)]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    lines = [fmt.format(*heads), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*c) for c in cells]
    return "\n".join(lines)


def write_json(path: Path, payload: Dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def update_benchmarks_md(path: Path, rows: List[Row], meta: Dict[str, object]) -> bool:
    """Replace the block between the bench:latest markers with this run's table; False when the markers are absent."""
    if not path.exists():
        return False
    text = path.read_text()
    if BEGIN not in text or END not in text:
        return False
    block = (f"{BEGIN}\nRun {meta['date']} on {meta['host']} ({meta['cpus']} CPUs, load average {meta['load_before']} at start; "
             f"results in `{meta['json']}`, {meta['duration_s']:.0f} s):\n\n{table(rows, markdown=True)}\n{END}")
    text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    path.write_text(text)
    return True
