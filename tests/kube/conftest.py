"""Fixtures of the Kubernetes suite: Podman, the three images, a freshly published k8s folder, the plan, the run.

No cluster can run here; Podman 4.3's `kube play` runs the pod templates (see README.md for what that proves). The
engine, publishing and image helpers are the production suite's (tests/production/prodstack.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "production"))

import kubeplay  # noqa: E402
import podkube  # noqa: E402
import prodstack as ps  # noqa: E402

# The Services the suite reaches from the host (their pods' httpGet probes and health endpoints).
REACHED = ("ai-orchestrator", "frontend")


@pytest.fixture(scope="session")
def podman():
    if os.environ.get("CARTRITA_CONTAINER_TESTS") == "0":
        pytest.skip("CARTRITA_CONTAINER_TESTS=0: container tests are switched off")
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run `sudo eng/install.sh containers` "
                    "(or set CARTRITA_CONTAINER_TESTS=0 to skip the container tests)", pytrace=False)
    was_running = "podman  answers" in subprocess.run(["bash", str(ps.ENGINE_SH), "status"], capture_output=True,
                                                      text=True, timeout=30).stdout
    engine = ps.start_engine("podman")  # engine.sh start podman, then base-images.sh podman
    yield podkube.Podman(engine.env)
    if not was_running:
        ps.run(["bash", str(ps.ENGINE_SH), "stop", "podman"], timeout=120, check=False)


@pytest.fixture(scope="session")
def images(podman):
    return podkube.build_images(podman)


@pytest.fixture(scope="session")
def published(tmp_path_factory):
    """deploy/k8s as publishing makes it now, with known secrets, in a temporary folder pointed at the test images."""
    directory = tmp_path_factory.mktemp("kube") / "k8s"
    values = ps.known_secrets()
    podkube.publish(ps.converter(), directory, values)
    podkube.point_images(directory / "kustomization.yaml")
    return directory, values


@pytest.fixture(scope="session")
def documents(published):
    return podkube.kustomize(published[0])


@pytest.fixture(scope="session")
def plan(documents, tmp_path_factory):
    return kubeplay.plan(documents, host_ports={name: ps.free_port() for name in REACHED},
                         empty_dir_root=str(tmp_path_factory.mktemp("emptydirs")))


@pytest.fixture(scope="module")
def cluster(podman, images, plan, published, tmp_path_factory):
    cluster = podkube.Cluster(podman, plan, tmp_path_factory.mktemp("play"), podkube.NETWORK_PREFIX + uuid.uuid4().hex[:8])
    cluster.values = published[1]
    cluster.down()  # leftovers of a crashed earlier run
    try:
        cluster.up()
        yield cluster
    finally:
        cluster.down()
