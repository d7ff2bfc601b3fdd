"""Bad input to `./cartrita compose up` (eng/compose.sh): one line naming the fix, quickly, and nothing started."""

from __future__ import annotations

import shutil
import socket
import time
import uuid

import pytest

import prodstack as ps

QUICK = 60  # seconds: a refusal must come long before any wait would time out


@pytest.fixture
def probe(stack):
    """The published copy under a project of its own, so nothing here touches the stack the other tests run."""
    copy = ps.Stack(stack.engine, f"cartrita-e2e-bad-{uuid.uuid4().hex[:8]}", stack.directory, stack.values)
    yield copy
    assert ps.leftovers(copy.engine, copy.project) == {}, "a refused up left something behind"


def refused(probe, **overrides):
    started = time.monotonic()
    done = probe.wrapper("up", "--timeout", "30", timeout=QUICK, check=False, **overrides)
    assert done.returncode != 0, done.stdout
    assert time.monotonic() - started < QUICK
    return done.stderr.splitlines()


def test_no_engine(probe, tmp_path):
    lines = refused(probe, DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock")
    assert len(lines) == 1 and "engine.sh start docker" in lines[0], lines


def test_missing_image_names_the_build(probe):
    tag = "absent-" + uuid.uuid4().hex[:6]
    lines = refused(probe, CARTRITA_TAG=tag)
    for service in ps.IMAGES:
        assert any(f"image cartrita/{service}:{tag} ({service}) is missing; build it:" in line for line in lines), lines


def test_missing_base_image_names_the_stand_in(probe):
    # A sibling folder at the same depth keeps the file's relative build contexts valid.
    directory = probe.directory.parent.parent / ("missing-base-" + uuid.uuid4().hex[:6]) / "compose"
    shutil.copytree(probe.directory, directory)
    file = directory / "docker-compose.prod.yml"
    file.write_text(file.read_text().replace("redis:7.0.15", "redis:0.0.0-absent"))
    probe.directory = directory
    lines = refused(probe)
    assert any("redis:0.0.0-absent (redis) is missing" in line and "eng/containers/base-images.sh" in line
               for line in lines), lines


def test_occupied_port_names_the_setting(probe):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        lines = refused(probe, FRONTEND_PORT=str(port))
    assert any(f"port {port} (frontend" in line and "FRONTEND_PORT=" in line for line in lines), lines
