"""Images (issue 14): build time of each of the three images cold (--no-cache) and cached (again, nothing changed) and
its size, beside the same for the seed's Dockerfile (the first commit that has it, built from its own tree with the same
base images); plus the published stack's `up` to all-healthy and `stop` times that the production test measured
(TestResults/production-<engine>.json, written by tests/production).

Runs on Cartrita's Docker engine (eng/containers/engine.sh start docker; base images from base-images.sh). Tags it
builds (cartrita-bench/*) are removed afterwards; layers shared with other images stay. Standalone:
`/usr/bin/python3 -m cartrita_bench.images` from bench/ prints the JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

from .infra import ROOT

DOCKER = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else "docker"
# service -> (build context, Dockerfile), both relative to the repository root, as the published Compose file builds them.
IMAGES = {
    "migrations": (".", "Cartrita.MigrationService/Dockerfile"),
    "ai-orchestrator": ("services/ai-orchestrator", "services/ai-orchestrator/Dockerfile"),
    "frontend": ("frontend", "frontend/Dockerfile"),
}
BUILD_TIMEOUT = 1200


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    if not env.get("DOCKER_HOST"):
        printed = subprocess.run(["bash", str(ROOT / "eng/containers/engine.sh"), "env", "docker"], capture_output=True,
                                 text=True, timeout=30).stdout
        for line in printed.splitlines():
            if line.startswith("export DOCKER_HOST="):
                env["DOCKER_HOST"] = line.split("=", 1)[1].strip("'\"")
    return env


def _docker(env, *args: str, stdin=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKER, *args], env=env, stdin=stdin, capture_output=True, text=True, timeout=timeout)


def _build(env, tag: str, context: str, dockerfile: str, no_cache: bool, tree: Optional[str] = None) -> float:
    """Seconds to build TAG; TREE (a commit) builds from `git archive` of that commit instead of the working tree."""
    args = ["build", "--network", "host", "-q", "-t", tag, *(["--no-cache"] if no_cache else [])]
    started = time.perf_counter()
    if tree is None:
        done = _docker(env, *args, "-f", str(ROOT / dockerfile), str(ROOT / context), timeout=BUILD_TIMEOUT)
    else:
        prefix = "" if context == "." else context + "/"
        archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", "--format=tar", f"{tree}:{context}" if prefix else tree],
                                   stdout=subprocess.PIPE)
        try:
            done = _docker(env, *args, "-f", dockerfile[len(prefix):], "-", stdin=archive.stdout, timeout=BUILD_TIMEOUT)
        finally:
            archive.stdout.close()
            archive.wait(timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"docker build {tag} failed: {done.stderr.strip()[-500:]}")
    return round(time.perf_counter() - started, 1)


def _size_mb(env, tag: str) -> float:
    return round(int(_docker(env, "image", "inspect", "--format", "{{.Size}}", tag).stdout) / 1e6, 1)


def _seed_commit(dockerfile: str) -> Optional[str]:
    added = subprocess.run(["git", "-C", str(ROOT), "log", "--diff-filter=A", "--format=%H", "--", dockerfile],
                           capture_output=True, text=True, timeout=30).stdout.split()
    return added[-1] if added else None


def _measure(env, tag: str, context: str, dockerfile: str, tree: Optional[str] = None) -> Dict[str, object]:
    try:
        cold = _build(env, tag, context, dockerfile, no_cache=True, tree=tree)
        cached = _build(env, tag, context, dockerfile, no_cache=False, tree=tree)
        return {"cold_s": cold, "cached_s": cached, "size_mb": _size_mb(env, tag)}
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return {"error": str(exc)}
    finally:
        _docker(env, "rmi", tag)


def _stack_figures() -> Dict[str, object]:
    figures = {}
    for path in sorted((ROOT / "TestResults").glob("production-*.json")):
        data = json.loads(path.read_text())
        figures[data.get("engine", path.stem)] = {k: v for k, v in data.items() if k not in ("builds", "engine")}
    return figures


def bench_images(work: Path, log=print) -> Dict[str, object]:
    env = _env()
    if _docker(env, "info", timeout=20).returncode != 0:
        return {"available": False, "reason": "no Docker engine answers; run: sudo eng/containers/engine.sh start docker"}
    images: Dict[str, object] = {}
    for service, (context, dockerfile) in IMAGES.items():
        row: Dict[str, object] = {"current": _measure(env, f"cartrita-bench/{service}:current", context, dockerfile)}
        seed = _seed_commit(dockerfile)
        if seed:
            row["seed"] = dict(_measure(env, f"cartrita-bench/{service}:seed", context, dockerfile, tree=seed), commit=seed[:7])
        images[service] = row
        log(f"  image {service}: " + "; ".join(f"{k} {v}" for k, v in row.items()))
    return {"available": True, "images": images, "stack": _stack_figures(),
            "note": "Only our Dockerfiles are measured: the manifest builds all three from them (dockerfile.v0); no "
                    "Aspire-generated Dockerfile or SDK container build was built for comparison."}


if __name__ == "__main__":
    json.dump(bench_images(Path("/tmp"), log=lambda m: print(m, file=sys.stderr)), sys.stdout, indent=2)
    print()
