"""The published Compose stack on a real engine: engines, images, a published copy with known secrets, compose runs.

Everything is reached the way a user reaches it: the engine's CLI and docker-compose on DOCKER_HOST, HTTP on
127.0.0.1 ports. Every subprocess has a timeout, so a hang fails the test instead of stalling CI.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]
ENGINE_SH = ROOT / "eng" / "containers" / "engine.sh"
BASE_IMAGES_SH = ROOT / "eng" / "containers" / "base-images.sh"
COMPOSE_SH = ROOT / "eng" / "compose.sh"
# docker.io's own CLI (20.10) matches the daemon; /usr/local/bin/docker may be a newer one.
DOCKER_CLI = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else "docker"
RESULTS = ROOT / "TestResults"

# The images the published file builds: service name -> (build context, Dockerfile), as compose names them.
IMAGES = {
    "migrations": (".", "Cartrita.MigrationService/Dockerfile"),
    "ai-orchestrator": ("services/ai-orchestrator", "services/ai-orchestrator/Dockerfile"),
    "frontend": ("frontend", "frontend/Dockerfile"),
}
REGISTRY = "cartrita"
TEST_TAG = "production-test"


def run(args: Sequence[str], *, env: Optional[Dict[str, str]] = None, timeout: float = 120, check: bool = True,
        input: Optional[str] = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Runs a command with a deadline; on failure the error carries its output (never the environment)."""
    try:
        done = subprocess.run(list(args), env=env, cwd=cwd, input=input, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"timed out after {timeout} s: {' '.join(args)}\n{e.stdout or ''}{e.stderr or ''}") from None
    if check and done.returncode != 0:
        raise AssertionError(f"exit {done.returncode}: {' '.join(args)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_exports(text: str) -> Dict[str, str]:
    """`export NAME=VALUE` lines (as engine.sh prints them) -> {NAME: VALUE}."""
    exports = {}
    for line in text.splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, value = line[len("export "):].partition("=")
            exports[name] = value.strip().strip("'\"")
    return exports


@dataclass
class Engine:
    name: str  # docker | podman
    env: Dict[str, str]  # the process environment with DOCKER_HOST (and podman's config) set

    def cli(self, *args: str, timeout: float = 60, check: bool = True, extra_env: Optional[Dict[str, str]] = None):
        env = dict(self.env, **(extra_env or {}))
        return run([DOCKER_CLI, *args], env=env, timeout=timeout, check=check)

    def inspect(self, ref: str) -> dict:
        return json.loads(self.cli("inspect", ref).stdout)[0]

    def has_image(self, ref: str) -> bool:
        return self.cli("image", "inspect", ref, check=False).returncode == 0

    def image_size(self, ref: str) -> int:
        return int(self.cli("image", "inspect", "--format", "{{.Size}}", ref).stdout.strip())


def start_engine(name: str) -> Engine:
    """engine.sh start NAME, then base-images.sh NAME (stand-ins only for base images the engine lacks)."""
    started = run(["bash", str(ENGINE_SH), "start", name], timeout=90)
    env = dict(os.environ, **parse_exports(started.stdout))
    assert env.get("DOCKER_HOST"), f"engine.sh start {name} printed no DOCKER_HOST:\n{started.stdout}"
    run(["bash", str(BASE_IMAGES_SH), name], env=env, timeout=1500)
    return Engine(name, env)


def image_ref(service: str) -> str:
    return f"{REGISTRY}/{service}:{TEST_TAG}"


@dataclass
class Build:
    service: str
    seconds: float
    cached_seconds: float
    size_bytes: int
    created: bool  # the test made the image (so the test removes it)


def build_images(engine: Engine) -> List[Build]:
    """Builds the three images from their Dockerfiles (docker build --network host), then again to time a cached build."""
    builds = []
    for service, (context, dockerfile) in IMAGES.items():
        ref = image_ref(service)
        existed = engine.has_image(ref)
        timings = []
        for _ in range(2):
            started = time.monotonic()
            engine.cli("build", "--network", "host", "-q", "-t", ref, "-f", str(ROOT / dockerfile), str(ROOT / context),
                       timeout=900)
            timings.append(time.monotonic() - started)
        builds.append(Build(service, round(timings[0], 1), round(timings[1], 1), engine.image_size(ref), not existed))
    return builds


def copy_images(source: Engine, target: Engine, refs: Sequence[str]) -> None:
    """docker save | podman load (through the engines' Docker APIs) for images the target lacks."""
    for ref in refs:
        if target.has_image(ref):
            continue
        saved = subprocess.Popen([DOCKER_CLI, "save", ref], env=source.env, stdout=subprocess.PIPE)
        try:
            loaded = subprocess.run([DOCKER_CLI, "load", "-q"], env=target.env, stdin=saved.stdout, capture_output=True,
                                    text=True, timeout=600)
        finally:
            saved.stdout.close()
            saved.wait(timeout=60)
        assert saved.returncode == 0 and loaded.returncode == 0, f"moving {ref} to {target.name}: {loaded.stderr}"
        assert target.has_image(ref), f"{target.name} does not find {ref} after loading it: {loaded.stdout}"


def known_secrets() -> Dict[str, str]:
    """Parameter values for publishing (environment names as .env.example lists them); the password needs URL-encoding."""
    return {
        "POSTGRES_USER": "robbie",
        "POSTGRES_PASSWORD": "pg-" + secrets.token_urlsafe(18) + "@/%+",
        "REDIS_PASSWORD": "rd-" + secrets.token_urlsafe(18),
        "JWT_SECRET": secrets.token_urlsafe(48),
        "CARTRITA_API_KEY": "key-" + secrets.token_urlsafe(24),
        "OPENAI_API_KEY": "",
        "ANTHROPIC_API_KEY": "",
        "DEEPGRAM_API_KEY": "",
    }


def converter() -> Path:
    """Cartrita.Publishing built (incrementally) as eng/publish.sh builds it."""
    run(["dotnet", "build", "Cartrita.Publishing", "-v", "quiet", "-nologo", "-clp:ErrorsOnly"], timeout=600)
    return ROOT / "Cartrita.Publishing" / "bin" / "Debug" / "net10.0" / "Cartrita.Publishing.dll"


def publish(dll: Path, out: Path, values: Dict[str, str]) -> None:
    """Publishes compose into OUT (not deploy/compose: a developer's secrets and .env stay untouched)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("Parameters__")}
    env.update(values)
    run(["dotnet", str(dll), "compose", "--manifest", str(ROOT / "aspire-manifest.json"),
         "--profile", str(ROOT / "deploy" / "publish-profile.yaml"), "--compose-out", str(out)], env=env, timeout=120)


@dataclass
class Stack:
    engine: Engine
    project: str
    directory: Path  # the published copy
    values: Dict[str, str]  # the known secrets
    frontend_port: int = field(default_factory=free_port)
    orchestrator_port: int = field(default_factory=free_port)

    @property
    def file(self) -> Path:
        return self.directory / "docker-compose.prod.yml"

    def env(self, **overrides: str) -> Dict[str, str]:
        env = dict(self.engine.env, COMPOSE_PROJECT_NAME=self.project, CARTRITA_REGISTRY=REGISTRY, CARTRITA_TAG=TEST_TAG,
                   FRONTEND_PORT=str(self.frontend_port), AI_ORCHESTRATOR_PORT=str(self.orchestrator_port))
        env.update(overrides)
        return env

    def wrapper(self, *args: str, timeout: float = 300, check: bool = True, **overrides: str):
        """eng/compose.sh (./cartrita compose) on this project."""
        return run(["bash", str(COMPOSE_SH), "-f", str(self.file), *args], env=self.env(**overrides), timeout=timeout,
                   check=check)

    def compose(self, *args: str, timeout: float = 300, check: bool = True):
        return run(["docker-compose", "-p", self.project, "-f", str(self.file), *args], env=self.env(),
                   timeout=timeout, check=check)

    def containers(self, all_states: bool = True) -> Dict[str, str]:
        """service -> container id, for this project's containers."""
        listed = self.engine.cli("ps", *(["-a"] if all_states else []), "--filter",
                                 f"label=com.docker.compose.project={self.project}", "--format",
                                 '{{.Label "com.docker.compose.service"}} {{.ID}}').stdout
        return dict(line.split() for line in listed.splitlines() if line.strip())

    def container(self, service: str) -> str:
        ids = self.containers()
        assert service in ids, f"no {service} container in project {self.project}: {ids}"
        return ids[service]

    def redis_cli(self, *args: str) -> str:
        # The password travels in the exec's environment (REDISCLI_AUTH), not on a command line.
        return self.engine.cli("exec", "-e", "REDISCLI_AUTH", self.container("redis"), "redis-cli", *args,
                               extra_env={"REDISCLI_AUTH": self.values["REDIS_PASSWORD"]}).stdout.strip()

    def http(self, port: int, method: str, path: str, body: Optional[dict] = None, api_key: bool = True,
             timeout: float = 20):
        """(status, decoded JSON body) of a request to 127.0.0.1:PORT."""
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["X-API-Key"] = self.values["CARTRITA_API_KEY"]
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text.decode(errors="replace")

    def orchestrator(self, method: str, path: str, body: Optional[dict] = None, **kw):
        return self.http(self.orchestrator_port, method, path, body, **kw)

    def frontend(self, method: str, path: str, body: Optional[dict] = None, **kw):
        return self.http(self.frontend_port, method, path, body, **kw)


def leftovers(engine: Engine, project: str) -> Dict[str, List[str]]:
    """This project's containers, networks and volumes still on the engine."""
    label = f"label=com.docker.compose.project={project}"
    found = {
        "containers": engine.cli("ps", "-aq", "--filter", label).stdout.split(),
        "networks": engine.cli("network", "ls", "-q", "--filter", label).stdout.split(),
        "volumes": engine.cli("volume", "ls", "-q", "--filter", label).stdout.split(),
    }
    # Names too, in case an engine does not label what compose made (podman's compat API labels them; check anyway).
    found["networks"] += [n for n in engine.cli("network", "ls", "--format", "{{.Name}}").stdout.split()
                          if n.startswith(project + "_")]
    found["volumes"] += [v for v in engine.cli("volume", "ls", "--format", "{{.Name}}").stdout.split()
                         if v.startswith(project + "_")]
    return {kind: sorted(set(items)) for kind, items in found.items() if items}


def write_figures(engine: str, figures: dict) -> None:
    """TestResults/production-<engine>.json: build times, image sizes, up/stop times (for BENCHMARKS.md)."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"production-{engine}.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


def podman_installed() -> bool:
    return shutil.which("podman") is not None
