"""Fixtures of the production-path suite: engines, the three images, a published copy of the stack per engine.

Docker Engine always (its failure to start fails the suite); Podman when it is installed. Images are built once with
Docker under a test tag and moved to Podman with save | load. Test images the suite created are removed at the end
(CARTRITA_KEEP_TEST_IMAGES=1 keeps them, for a faster next run); base images stay cached.
"""

from __future__ import annotations

import os
import uuid

import pytest

import prodstack as ps

ENGINES = ["docker", pytest.param("podman", marks=pytest.mark.skipif(not ps.podman_installed(),
                                                                      reason="podman is not installed"))]


@pytest.fixture(scope="session")
def docker_engine():
    return ps.start_engine("docker")


@pytest.fixture(scope="session")
def builds(docker_engine):
    built = ps.build_images(docker_engine)
    yield built
    if os.environ.get("CARTRITA_KEEP_TEST_IMAGES") != "1":
        for build in built:
            if build.created:
                docker_engine.cli("rmi", ps.image_ref(build.service), check=False, timeout=120)


@pytest.fixture(scope="session", params=ENGINES)
def engine(request, docker_engine, builds):
    if request.param == "docker":
        yield docker_engine
        return
    podman = ps.start_engine("podman")
    refs = [ps.image_ref(b.service) for b in builds]
    missing = [ref for ref in refs if not podman.has_image(ref)]
    ps.copy_images(docker_engine, podman, refs)
    yield podman
    if os.environ.get("CARTRITA_KEEP_TEST_IMAGES") != "1":
        for ref in missing:
            podman.cli("rmi", ref, check=False, timeout=120)


@pytest.fixture(scope="session")
def converter():
    return ps.converter()


@pytest.fixture(scope="session")
def stack(engine, converter, builds, tmp_path_factory):
    """A published copy of the stack for ENGINE with known secrets; torn down (volumes too) at the end."""
    directory = tmp_path_factory.mktemp(f"compose-{engine.name}") / "compose"
    values = ps.known_secrets()
    ps.publish(converter, directory, values)
    stack = ps.Stack(engine, f"cartrita-e2e-{engine.name}-{uuid.uuid4().hex[:8]}", directory, values)
    stack.figures = {"engine": engine.name,
                     "builds": [b.__dict__ for b in builds]}
    yield stack
    stack.compose("--profile", "backup", "down", "-v", "--remove-orphans", timeout=180, check=False)
    ps.write_figures(engine.name, stack.figures)
