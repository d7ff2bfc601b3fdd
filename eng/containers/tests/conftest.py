"""Fixtures for the stand-in image contract tests: an engine and a small docker CLI wrapper.

The engine is the one DOCKER_HOST names when it answers; otherwise engine.sh starts
ours (CARTRITA_TEST_ENGINE=docker|podman, default docker). The tests are skipped,
with the reason, only when no engine can be had.
"""
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ENGINE_SH = HERE.parent / "engine.sh"
BASE_IMAGES_SH = HERE.parent / "base-images.sh"
# docker.io's own CLI speaks the daemon's API version; fall back to whatever is on PATH.
DOCKER = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else "docker"
PGVECTOR = "docker.io/pgvector/pgvector:0.8.0-pg15"
REDIS = "docker.io/library/redis:7.0.15"


class Docker:
    """Runs the docker CLI against one engine; removes what it created."""

    def __init__(self, env):
        self.env = env
        self.prefix = f"cartrita-contract-{uuid.uuid4().hex[:8]}"
        self.created = []   # ("container"|"volume", name)

    def run(self, *args, check=True, timeout=120, stdin=None):
        proc = subprocess.run([DOCKER, *args], env=self.env, input=stdin, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def name(self, kind, what):
        name = f"{self.prefix}-{what}"
        self.created.append((kind, name))
        return name

    def start(self, what, image, *args, options=()):
        """docker run -d; returns the container name."""
        name = self.name("container", what)
        self.run("run", "-d", "--name", name, *options, image, *args)
        return name

    def exec(self, name, *cmd, check=True, stdin=None):
        return self.run("exec", "-i", name, *cmd, check=check, stdin=stdin)

    def port(self, name, container_port):
        out = self.run("port", name, str(container_port)).stdout.split()[0]
        return int(out.rsplit(":", 1)[1])

    def logs(self, name):
        proc = self.run("logs", name, check=False)
        return proc.stdout + proc.stderr

    def state(self, name, field):
        return self.run("inspect", "--format", "{{.State.%s}}" % field, name).stdout.strip()

    def pid1_uid(self, name):
        status = self.exec(name, "cat", "/proc/1/status").stdout
        return next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))

    def wait_until(self, name, probe, what, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if probe():
                return
            if self.state(name, "Running") != "true":
                raise AssertionError(f"{name} exited while waiting for {what}:\n{self.logs(name)[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"{name}: no {what} within {timeout}s:\n{self.logs(name)[-3000:]}")

    def stop_seconds(self, name, signal=None):
        """Stops a container (docker stop, or the given signal) and returns the seconds it took."""
        t0 = time.monotonic()
        if signal:
            self.run("kill", "--signal", signal, name)
            self.run("wait", name, timeout=30)
        else:
            self.run("stop", "--time", "20", name, timeout=60)
        return time.monotonic() - t0

    def cleanup(self):
        for kind, name in reversed(self.created):
            args = ("rm", "-f", "-v", name) if kind == "container" else ("volume", "rm", "-f", name)
            self.run(*args, check=False)


def _answers(env):
    try:
        return subprocess.run([DOCKER, "info"], env=env, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def engine_env():
    env = dict(os.environ)
    if env.get("DOCKER_HOST") and _answers(env):
        return env
    engine = env.get("CARTRITA_TEST_ENGINE", "docker")
    proc = subprocess.run([str(ENGINE_SH), "start", engine], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        pytest.skip(f"no container engine: {proc.stderr.strip()}")
    for line in proc.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    if not _answers(env):
        pytest.skip(f"{engine} started but `docker info` fails against {env.get('DOCKER_HOST')}")
    return env


@pytest.fixture(scope="session")
def images(engine_env):
    """Makes sure the two images exist (a no-op when they do, real or stand-in)."""
    engine = "podman" if engine_env["DOCKER_HOST"].endswith("podman.sock") else "docker"
    proc = subprocess.run([str(BASE_IMAGES_SH), engine, "debian", "pgvector", "redis"], env=engine_env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return engine


@pytest.fixture
def docker(engine_env, images):
    d = Docker(engine_env)
    yield d
    d.cleanup()
