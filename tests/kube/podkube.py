"""Runs a kubeplay.Plan on Podman: one network, podman secrets, `podman kube play` per workload, probes, teardown.

Every podman call has a deadline (a hang fails the test). Secret values go to podman on stdin, never on a command
line; the play files (which hold expanded `$(VAR)` values) are written 0600 in a 0700 folder and deleted by down().
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional

import kubeplay
import prodstack as ps

TEST_LABEL = "org.cartrita.test=kube"  # on what this suite makes that podman can label (claims' volumes)
IMAGE_TAG = "kube-test"
NETWORK_PREFIX = "cartrita-kube-"  # + a random suffix per run
# Probe polling: the deadline is Kubernetes' own budget (initialDelay + failureThreshold x period); polling faster
# than periodSeconds only makes a passing probe pass sooner.
POLL = 1.0
READY_GRACE = 30  # seconds for readiness and liveness to pass once the startup probe has


class Podman:
    def __init__(self, env: Dict[str, str]):
        self.env = env

    def __call__(self, *args: str, timeout: float = 60, check: bool = True, input: Optional[str] = None):
        return ps.run(["podman", *args], env=self.env, timeout=timeout, check=check, input=input)

    def inspect(self, name: str) -> dict:
        return json.loads(self("inspect", name, timeout=30).stdout)[0]

    def exists(self, kind: str, name: str) -> bool:
        return self(kind, "exists", name, check=False, timeout=30).returncode == 0

    def names(self, *ls: str) -> List[str]:
        return self(*ls, timeout=30).stdout.split()


def build_images(podman: Podman) -> Dict[str, float]:
    """The three images from their Dockerfiles with podman build (its layer cache makes a rerun take seconds)."""
    seconds = {}
    for service, (context, dockerfile) in ps.IMAGES.items():
        started = time.monotonic()
        podman("build", "--network", "host", "-q", "-t", image_ref(service), "-f", str(ps.ROOT / dockerfile),
               str(ps.ROOT / context), timeout=900)
        seconds[service] = round(time.monotonic() - started, 1)
    return seconds


def image_ref(service: str) -> str:
    return f"localhost/{ps.REGISTRY}/{service}:{IMAGE_TAG}"


def point_images(kustomization: Path) -> None:
    """What deploy/README.md tells a user to do in a deployment copy (kustomize edit set image), done with YAML."""
    doc = kubeplay.yaml.safe_load(kustomization.read_text())
    for image in doc.get("images", []):
        service = image["name"].split("/")[-1]
        if service in ps.IMAGES:
            image.update(newName=f"localhost/{ps.REGISTRY}/{service}", newTag=IMAGE_TAG)
    kustomization.write_text(kubeplay.yaml.safe_dump(doc, sort_keys=False))


def publish(dll: Path, out: Path, values: Dict[str, str]) -> None:
    """Publishes k8s into OUT (not deploy/k8s: a developer's secrets stay untouched)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("Parameters__")}
    env.update(values)
    ps.run(["dotnet", str(dll), "k8s", "--manifest", str(ps.ROOT / "aspire-manifest.json"),
            "--profile", str(ps.ROOT / "deploy" / "publish-profile.yaml"), "--k8s-out", str(out)], env=env, timeout=120)


def kustomize(directory: Path) -> List[dict]:
    return kubeplay.load(ps.run(["kubectl", "kustomize", str(directory)], timeout=60).stdout)


class Cluster:
    """The plan on podman. up() plays everything in order and waits for it; down() removes everything it made."""

    def __init__(self, podman: Podman, plan: kubeplay.Plan, workdir: Path, network: str):
        self.podman, self.plan, self.workdir, self.network = podman, plan, workdir, network
        self.timings: Dict[str, float] = {}
        self.anonymous_volumes: set = set()  # VOLUMEs of images, made by podman for our containers
        self.volumes_before: Optional[set] = None  # every volume on podman before up()

    # --- up ---------------------------------------------------------------------------------------------------
    def up(self) -> None:
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.volumes_before = set(self.podman.names("volume", "ls", "--format", "{{.Name}}"))
        for w in self.plan.workloads:
            for path, empty_dir in w.empty_dirs.items():
                make_empty_dir(Path(path), empty_dir)
            for path, secret in w.secret_dirs.items():
                make_secret_dir(Path(path), secret)
        self.podman("network", "create", self.network, timeout=30)
        for name, data in self.plan.secrets.items():
            # podman 4.3's secretKeyRef reads a secret as JSON {key: base64 value}.
            self.podman("secret", "create", name, "-", input=json.dumps(data), timeout=30)
        started = time.monotonic()
        # In stages: data stores ready, then the Job done, then the Deployments. Podman 4.3 neither retries a failed
        # init container nor waits for one properly (it gives up after its 20 s conmon timeout), so the orchestrator's
        # init container (the migration worker again) must find the schema current and finish quickly.
        for stage in ("StatefulSet", "Job", "Deployment"):
            workloads = [w for w in self.plan.workloads if w.kind == stage]
            for w in workloads:
                self.play(w)
                self.timings[f"{w.name} played"] = round(time.monotonic() - started, 1)
            for w in workloads:
                if stage == "Job":
                    self.wait_job(w, started)
                else:
                    self.wait_probes(w, started)

    def claims(self) -> set:
        return {d["metadata"]["name"] for w in self.plan.workloads for d in w.documents
                if d["kind"] == "PersistentVolumeClaim"}

    def play_file(self, w: kubeplay.Workload) -> Path:
        return self.workdir / f"{w.name}.yaml"

    def play(self, w: kubeplay.Workload) -> None:
        path = self.play_file(w)
        key, value = TEST_LABEL.split("=")
        for d in w.documents:
            if d["kind"] == "PersistentVolumeClaim":  # podman labels the claim's volume: down() removes only those
                d["metadata"].setdefault("labels", {})[key] = value
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(kubeplay.dump(w.documents))
        network = self.network + (":" + ",".join(f"alias={a}" for a in w.aliases) if w.aliases else "")
        # kube play returns once init containers have finished and the containers have started.
        self.podman("kube", "play", "--network", network, "--annotation", TEST_LABEL, str(path), timeout=180)
        pods = self.podman.names("pod", "ps", "--format", "{{.Name}}")
        assert w.pod in pods, f"podman kube play made no pod {w.pod}: {pods}"
        for c in w.spec["containers"]:
            for m in self.podman.inspect(w.podman_name(c["name"])).get("Mounts", []):
                if m.get("Type") == "volume" and m.get("Name") not in w.volumes:
                    self.anonymous_volumes.add(m["Name"])

    def wait_probes(self, w: kubeplay.Workload, started: float) -> None:
        """Each container's startup probe within Kubernetes' budget, then its readiness and liveness probes once."""
        for c in w.spec["containers"]:
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = c.get(kind)
                if not probe:
                    continue
                budget = (probe.get("initialDelaySeconds", 0)
                          + probe.get("failureThreshold", 3) * probe.get("periodSeconds", 10))
                allowed = budget if kind == "startupProbe" else READY_GRACE
                deadline = time.monotonic() + allowed
                last = self.probe(w, c, probe)
                while last is not None:
                    state = self.podman.inspect(w.podman_name(c["name"]))["State"]
                    where = f"{w.name}/{c['name']}"
                    assert state["Status"] == "running", (f"{where} is {state['Status']} (exit {state['ExitCode']}) "
                                                          f"before its {kind} passed; logs:\n{self.logs(w, c['name'])}")
                    assert time.monotonic() < deadline, (f"{where}: {kind} still failing after {allowed} s:"
                                                         f" {last}; logs:\n{self.logs(w, c['name'])}")
                    time.sleep(POLL)
                    last = self.probe(w, c, probe)
            self.timings[f"{w.name} ready"] = round(time.monotonic() - started, 1)

    def probe(self, w: kubeplay.Workload, c: dict, probe: dict) -> Optional[str]:
        """None when PROBE passes, else why not. exec runs in the container; httpGet goes to the 127.0.0.1 host port."""
        timeout = probe.get("timeoutSeconds", 1)
        if "exec" in probe:
            done = self.podman("exec", w.podman_name(c["name"]), *probe["exec"]["command"], timeout=timeout + 10, check=False)
            return None if done.returncode == 0 else f"exit {done.returncode}: {(done.stdout + done.stderr).strip()[-300:]}"
        if "httpGet" in probe:
            get = probe["httpGet"]
            port = self.host_port(w, c, get["port"])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{get.get('path', '/')}", timeout=timeout) as r:
                    return None if 200 <= r.status < 400 else f"HTTP {r.status}"
            except urllib.error.HTTPError as e:
                return f"HTTP {e.code}"
            except OSError as e:
                return f"{type(e).__name__}: {e}"
        raise kubeplay.PlanError(f"{w.name}/{c['name']}: probe kind {sorted(probe)} is not run by this suite")

    @staticmethod
    def host_port(w: kubeplay.Workload, c: dict, port) -> int:
        for p in c.get("ports", []):
            if port in (p.get("name"), p["containerPort"]) and "hostPort" in p:
                return p["hostPort"]
        raise kubeplay.PlanError(f"{w.name}/{c['name']}: port {port} has no host port (publish its Service)")

    def wait_job(self, w: kubeplay.Workload, started: float, limit: float = 300) -> None:
        """The Job's pod's containers exit 0 (restartPolicy OnFailure may restart them first)."""
        deadline = time.monotonic() + limit
        for c in w.spec["containers"]:
            name = w.podman_name(c["name"])
            while True:
                state = self.podman.inspect(name)["State"]
                if state["Status"] in ("exited", "stopped") and state["ExitCode"] == 0:
                    break
                assert time.monotonic() < deadline, f"{name}: {state['Status']} exit {state['ExitCode']} after {limit} s; " \
                                                    f"logs:\n{self.logs(w, c['name'])}"
                time.sleep(POLL)
        self.timings[f"{w.name} done"] = round(time.monotonic() - started, 1)

    def logs(self, w: kubeplay.Workload, container: str) -> str:
        done = self.podman("logs", "--tail", "30", w.podman_name(container), check=False, timeout=30)
        return (done.stdout + done.stderr)[-3000:]

    def exec(self, w: kubeplay.Workload, container: str, *args: str, env: Optional[Dict[str, str]] = None, check=True):
        """podman exec; ENV's values travel in podman's environment (`-e NAME`), not on its command line."""
        flags = [a for name in (env or {}) for a in ("-e", name)]
        podman = Podman(dict(self.podman.env, **(env or {})))
        return podman("exec", *flags, w.podman_name(container), *args, timeout=60, check=check)

    # --- down -------------------------------------------------------------------------------------------------
    def down(self) -> None:
        """kube play --down per workload, then what --down keeps: volumes, secrets, the network. Safe to repeat, and
        run before up() too: a crashed earlier run may have left the same pods, claims and secrets behind."""
        for w in reversed(self.plan.workloads):
            if self.play_file(w).exists():
                self.podman("kube", "play", "--down", str(self.play_file(w)), timeout=120, check=False)
            if self.podman.exists("pod", w.pod):  # a play that failed half-way
                self.podman("pod", "rm", "-f", "-t", "10", w.pod, timeout=120, check=False)
        for volume in [v for w in self.plan.workloads for v in w.volumes] + sorted(self.anonymous_volumes):
            if self.podman.exists("volume", volume):
                labels = self.podman.inspect(volume).get("Labels") or {}
                assert volume not in self.claims() or labels.get(TEST_LABEL.split("=")[0]), (
                    f"volume {volume} exists and is not this suite's (no {TEST_LABEL} label); "
                    f"keep its data elsewhere, then: podman volume rm {volume}")
                self.podman("volume", "rm", "-f", volume, timeout=60)
        # Secrets by kustomize's name without its hash (an earlier run had other values, so other hashes).
        generated = {name.rsplit("-", 1)[0] for name in self.plan.secrets}
        for name in self.podman.names("secret", "ls", "--format", "{{.Name}}"):
            if name.rsplit("-", 1)[0] in generated:
                self.podman("secret", "rm", name, timeout=30)
        if self.podman.exists("network", self.network):
            self.podman("network", "rm", "-f", self.network, timeout=60)
        for name in self.podman.names("network", "ls", "--format", "{{.Name}}"):
            if name.startswith(NETWORK_PREFIX):  # an earlier run's; in use by nothing, or rm refuses
                self.podman("network", "rm", name, timeout=60, check=False)
        for f in self.workdir.glob("*.yaml"):
            f.unlink()
        for path in (Path(p) for w in self.plan.workloads for p in list(w.empty_dirs) + list(w.secret_dirs)):
            if os.path.ismount(path):
                ps.run(["umount", str(path)], timeout=30)
            if path.exists():
                shutil.rmtree(path)

    def compose_volume(self, name: str) -> bool:
        labels = (self.podman.inspect(name).get("Labels") or {}) if self.podman.exists("volume", name) else {}
        return "com.docker.compose.project" in labels

    def leftovers(self) -> Dict[str, List[str]]:
        """Anything of the plan still on podman: pods, their containers, volumes, secrets, the network."""
        pods = {w.pod for w in self.plan.workloads}
        containers = [c for c in self.podman.names("ps", "-a", "--format", "{{.Names}}")
                      if any(c.startswith(p + "-") for p in pods)]
        volumes = set(self.podman.names("volume", "ls", "--format", "{{.Name}}"))
        found = {
            "pods": sorted(pods & set(self.podman.names("pod", "ps", "--format", "{{.Name}}"))),
            "containers": containers,
            "volumes": sorted(volumes & ({v for w in self.plan.workloads for v in w.volumes} | self.anonymous_volumes)),
            # Also volumes nobody told us about (an init container's, say); compose's (tests/production) are labelled.
            "new volumes": sorted(v for v in volumes - (self.volumes_before or volumes) if not self.compose_volume(v)),
            "labelled volumes": self.podman.names("volume", "ls", "--filter", f"label={TEST_LABEL}", "--format", "{{.Name}}"),
            "secrets": sorted(n for n in self.podman.names("secret", "ls", "--format", "{{.Name}}")
                              if n.rsplit("-", 1)[0] in {name.rsplit("-", 1)[0] for name in self.plan.secrets}),
            "networks": [n for n in self.podman.names("network", "ls", "--format", "{{.Name}}")
                         if n.startswith(NETWORK_PREFIX)],
            "host directories": sorted(p for w in self.plan.workloads for p in list(w.empty_dirs) + list(w.secret_dirs)
                                       if os.path.exists(p)),
        }
        return {k: v for k, v in found.items() if v}


def make_empty_dir(path: Path, empty_dir: dict) -> None:
    """An emptyDir as the kubelet makes one: an empty directory, mode 0777 (with an fsGroup: that group, setgid,
    2777); medium Memory is a tmpfs of sizeLimit. (A disk emptyDir's sizeLimit is enforced by the kubelet's eviction,
    which nothing does here.)"""
    path.mkdir(parents=True)
    if empty_dir.get("medium") == "Memory":
        size = f",size={quantity_bytes(empty_dir['sizeLimit'])}" if empty_dir.get("sizeLimit") else ""
        ps.run(["mount", "-t", "tmpfs", "-o", f"mode=0777{size}", "tmpfs", str(path)], timeout=30)
    if empty_dir.get("fsGroup") is not None:
        os.chown(path, -1, int(empty_dir["fsGroup"]))
        path.chmod(0o2777)
    else:
        path.chmod(0o777)


def make_secret_dir(path: Path, secret: dict) -> None:
    """A secret volume as the kubelet makes one: a tmpfs (the values never reach a disk) with one file per key, of
    the volume's mode, group fsGroup when there is one."""
    path.mkdir(parents=True)
    ps.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "tmpfs", str(path)], timeout=30)
    for name, (value, mode) in secret["files"].items():
        file = path / name
        file.write_bytes(base64.b64decode(value))
        if secret.get("fsGroup") is not None:
            os.chown(file, -1, int(secret["fsGroup"]))
        file.chmod(mode)


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity (64Mi, 1Gi, 500M, 1024) in bytes."""
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(quantity))
    assert match, f"unsupported quantity {quantity!r}"
    number, unit = match.groups()
    scale = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    return int(number) * scale[unit]


def get_json(port: int, path: str, timeout: float = 20):
    """(status, decoded JSON body) of GET 127.0.0.1:PORT/PATH."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def proc_status(text: str) -> Dict[str, str]:
    """/proc/<pid>/status -> {field: value}."""
    return dict(re.split(r":\s*", line, maxsplit=1) for line in text.splitlines() if ":" in line)


def decoded(plan: kubeplay.Plan, secret: str, key: str) -> str:
    return base64.b64decode(plan.secrets[secret][key]).decode()
