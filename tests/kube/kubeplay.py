"""Kubernetes objects (the output of `kubectl kustomize`) -> what Podman 4.3's `podman kube play` can run.

Podman 4.3 plays Pods, Deployments and PersistentVolumeClaims (and reads ConfigMaps from the same file). Everything
else the kustomization makes is either turned into one of those, used for something podman does by other means, or
reported as not executed. Each change is the smallest one that keeps Kubernetes' meaning; tests/kube/README.md lists
them with the reason for each:

- StatefulSet -> its pod template as the Pod `<name>-0`, and each volumeClaimTemplate as the PersistentVolumeClaim
  `<template>-<name>-0` mounted under the template's name: what the StatefulSet controller creates for replica 0.
- Job -> its pod template as the Pod `<name>` (restartPolicy kept); backoffLimit, deadlines and TTL are a
  controller's and are not executed.
- Deployment -> as it is (podman makes the pod `<name>-pod-0`).
- Secret -> a podman secret of the same (hashed) name, created by the caller (podman 4.3 cannot read Secret
  documents: it stores their YAML and then parses it as JSON).
- Service -> a network alias (its name) on the pods its selector matches, so the names resolve on the one network
  the pods share; a selector that matches nothing, or a targetPort no selected container has, is an error here.
- emptyDir -> hostPath of a fresh directory `<root>/<workload>-<volume>` that the caller makes 0777 (2777 and group
  fsGroup with an fsGroup), as the kubelet makes an emptyDir. Podman 4.3 would make a named volume called after the
  pod's volume (so every pod's `tmp` would be one volume, chowned to the first pod's user) and copy up the image's
  directory into it, resolving the image's absolute symlinks on the host: /var/run/postgresql (/var/run -> /run)
  takes the owner and mode of the host's /run/postgresql.
- secret volume -> hostPath of a directory (a tmpfs the caller makes) holding the Secret's keys as files with the
  volume's defaultMode (group fsGroup), mounted read-only: what the kubelet materializes. Podman 4.3 crashes on
  secret volumes (nil pointer dereference in VolumeFromSecret).
- a pod with init containers and restartPolicy Always -> OnFailure: podman 4.3 applies the pod's policy to init
  containers too, so an init container that exits 0 is started again, forever (and kube play fails); Kubernetes
  restarts an Always pod's init containers only when they fail. The cost: a main container exiting 0 is not restarted.
- `$(VAR)` in env values, command and args -> expanded here by Kubernetes' rules: podman leaves them as they are.
- hostPort/hostIP 127.0.0.1 added to the ports of the Services the caller wants to reach from the host.
"""

from __future__ import annotations

import base64
import copy
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional

import yaml

# Kinds that are turned into something podman runs, or used for one (see above).
PLAYED = {"Deployment", "StatefulSet", "Job"}
USED = {"ConfigMap", "Secret", "Service"}


class PlanError(Exception):
    """The objects cannot be run faithfully (the message names the object)."""


@dataclass
class Workload:
    kind: str  # the Kubernetes kind it comes from
    name: str
    pod: str  # the pod podman makes
    spec: dict  # the pod spec podman runs (after the changes above)
    documents: List[dict]  # one `podman kube play` file: ConfigMaps it reads, claims, the Pod or Deployment
    aliases: List[str] = field(default_factory=list)  # Service names that select it
    volumes: List[str] = field(default_factory=list)  # podman volumes it makes (claims, emptyDirs)
    host_ports: Dict[str, int] = field(default_factory=dict)  # Service name -> 127.0.0.1 port
    empty_dirs: Dict[str, dict] = field(default_factory=dict)  # host directory -> the emptyDir it stands for
    secret_dirs: Dict[str, dict] = field(default_factory=dict)  # host dir -> {files: {name: (b64, mode)}, fsGroup, source}

    def container(self, name: str) -> dict:
        for c in self.spec.get("initContainers", []) + self.spec["containers"]:
            if c["name"] == name:
                return c
        raise KeyError(f"{self.name} has no container {name}")

    def podman_name(self, container: str) -> str:
        return f"{self.pod}-{container}"


@dataclass
class Plan:
    workloads: List[Workload]
    secrets: Dict[str, Dict[str, str]]  # secret name -> key -> base64 value (as in the Secret)
    not_executed: List[str]  # "Kind/name" of everything podman does not run

    def workload(self, name: str) -> Workload:
        for w in self.workloads:
            if w.name == name:
                return w
        raise KeyError(f"no workload {name}; have {[w.name for w in self.workloads]}")


def load(text: str) -> List[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def plan(documents: Iterable[dict], host_ports: Optional[Dict[str, int]] = None, empty_dir_root: str = "/tmp") -> Plan:
    """The podman plan for DOCUMENTS; HOST_PORTS maps Service names to the 127.0.0.1 port to publish them on;
    emptyDirs become directories under EMPTY_DIR_ROOT."""
    docs = list(documents)
    by_kind: Dict[str, List[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    secrets = {d["metadata"]["name"]: dict(d.get("data") or {}) for d in by_kind.get("Secret", [])}
    for d in by_kind.get("Secret", []):
        for key, value in (d.get("stringData") or {}).items():
            secrets[d["metadata"]["name"]][key] = base64.b64encode(value.encode()).decode()

    # Data stores first, then run-once jobs, then the rest: podman retries no failed init container (see README).
    order = {"StatefulSet": 0, "Job": 1, "Deployment": 2}
    workloads = [_workload(d, configmaps, secrets, empty_dir_root) for d in sorted(
        (d for d in docs if d["kind"] in PLAYED), key=lambda d: order[d["kind"]])]
    for service in by_kind.get("Service", []):
        _attach_service(service, workloads, (host_ports or {}).get(service["metadata"]["name"]))
    unknown = sorted(set(host_ports or {}) - {s["metadata"]["name"] for s in by_kind.get("Service", [])})
    if unknown:
        raise PlanError(f"no Service named {', '.join(unknown)} to publish")
    not_executed = [f"{d['kind']}/{d['metadata']['name']}" for d in docs if d["kind"] not in PLAYED | USED]
    return Plan(workloads, secrets, not_executed)


def _workload(doc: dict, configmaps: Dict[str, dict], secrets: Dict[str, Dict[str, str]], empty_dir_root: str) -> Workload:
    kind, name = doc["kind"], doc["metadata"]["name"]
    template = copy.deepcopy(doc["spec"]["template"])
    spec = template["spec"]
    volumes: List[str] = []
    claims: List[dict] = []
    if kind == "StatefulSet":
        for claim in doc["spec"].get("volumeClaimTemplates", []):
            claim_name = f"{claim['metadata']['name']}-{name}-0"
            claims.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                           "metadata": {"name": claim_name, "labels": template["metadata"].get("labels", {})},
                           "spec": copy.deepcopy(claim["spec"])})
            spec.setdefault("volumes", []).append({"name": claim["metadata"]["name"],
                                                   "persistentVolumeClaim": {"claimName": claim_name}})
            volumes.append(claim_name)
    empty_dirs = _empty_dirs_to_host_paths(name, spec, empty_dir_root)
    if spec.get("initContainers") and spec.get("restartPolicy", "Always") == "Always":
        spec["restartPolicy"] = "OnFailure"
    secret_dirs = _secret_volumes_to_host_paths(f"{kind}/{name}", name, spec, empty_dir_root, secrets)
    for container in spec.get("initContainers", []) + spec["containers"]:
        _expand_dependent_vars(f"{kind}/{name} container {container['name']}", container, configmaps, secrets)

    if kind == "Deployment":
        played = copy.deepcopy(doc)
        played["spec"]["template"] = template
        pod = f"{name}-pod-0"
    else:
        pod = f"{name}-0" if kind == "StatefulSet" else name
        played = {"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": pod, "labels": template["metadata"].get("labels", {})}, "spec": spec}
    volumes += [c["persistentVolumeClaim"]["claimName"] for c in spec.get("volumes", [])
                if "persistentVolumeClaim" in c and c["persistentVolumeClaim"]["claimName"] not in volumes]
    read = [configmaps[n] for n in sorted(_configmaps_read(spec)) if n in configmaps]
    return Workload(kind, name, pod, spec, read + claims + [played], volumes=volumes, empty_dirs=empty_dirs,
                    secret_dirs=secret_dirs)


def _empty_dirs_to_host_paths(workload: str, spec: dict, root: str) -> Dict[str, dict]:
    made = {}
    for volume in spec.get("volumes", []):
        if "emptyDir" in volume:
            path = f"{root.rstrip('/')}/{workload}-{volume['name']}"
            made[path] = dict(volume.pop("emptyDir") or {}, fsGroup=(spec.get("securityContext") or {}).get("fsGroup"))
            volume["hostPath"] = {"path": path, "type": "Directory"}
    return made


def _secret_volumes_to_host_paths(where: str, workload: str, spec: dict, root: str,
                                  secrets: Dict[str, Dict[str, str]]) -> Dict[str, dict]:
    made, names = {}, set()
    for volume in spec.get("volumes", []):
        if "secret" not in volume:
            continue
        source = volume.pop("secret")
        data = _secret(where, secrets, source["secretName"])
        mode = source.get("defaultMode", 0o644)
        items = source.get("items") or [{"key": k, "path": k} for k in data]
        missing = [i["key"] for i in items if i["key"] not in data]
        if missing:
            raise PlanError(f"{where}: secret {source['secretName']} has no key {', '.join(missing)}")
        path = f"{root.rstrip('/')}/{workload}-{volume['name']}"
        made[path] = {"files": {i["path"]: (data[i["key"]], i.get("mode", mode)) for i in items},
                      "fsGroup": (spec.get("securityContext") or {}).get("fsGroup"), "source": source}
        volume["hostPath"] = {"path": path, "type": "Directory"}
        names.add(volume["name"])
    for container in spec.get("initContainers", []) + spec["containers"]:
        for mount in container.get("volumeMounts", []):
            if mount["name"] in names:
                mount["readOnly"] = True  # the kubelet mounts secret volumes read-only, always
    return made


def _configmaps_read(spec: dict) -> set:
    names = set()
    for c in spec.get("initContainers", []) + spec["containers"]:
        names |= {e["configMapRef"]["name"] for e in c.get("envFrom", []) if "configMapRef" in e}
        names |= {e["valueFrom"]["configMapKeyRef"]["name"] for e in c.get("env", [])
                  if "configMapKeyRef" in (e.get("valueFrom") or {})}
    names |= {v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v}
    return names


_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, defined: Dict[str, str]) -> str:
    """Kubernetes' dependent-variable expansion: $(NAME) -> its value when defined, $$ -> $, anything else as is."""
    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        return defined.get(match.group(1), match.group(0))
    return _REFERENCE.sub(one, text)


def _expand_dependent_vars(where: str, container: dict, configmaps: Dict[str, dict],
                           secrets: Dict[str, Dict[str, str]]) -> None:
    """Expands $(VAR) in env values, command and args in place, the way the kubelet does; only when there is one."""
    texts = [e.get("value", "") for e in container.get("env", [])] + container.get("command", []) + container.get("args", [])
    if not any("$(" in t or "$$" in t for t in texts):
        return
    defined: Dict[str, str] = {}
    for source in container.get("envFrom", []):  # envFrom first, then env in order (later entries win)
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = _configmap(where, configmaps, source["configMapRef"]["name"])
        else:
            data = {k: base64.b64decode(v).decode() for k, v in _secret(where, secrets, source["secretRef"]["name"]).items()}
        defined.update({prefix + k: str(v) for k, v in data.items()})
    for entry in container.get("env", []):
        if "value" in entry:
            entry["value"] = expand(str(entry["value"]), defined)
            defined[entry["name"]] = entry["value"]
            continue
        ref = entry.get("valueFrom") or {}
        if "secretKeyRef" in ref:
            key = ref["secretKeyRef"]
            data = _secret(where, secrets, key["name"])
            if key["key"] not in data:
                raise PlanError(f"{where}: secret {key['name']} has no key {key['key']}")
            defined[entry["name"]] = base64.b64decode(data[key["key"]]).decode()
        elif "configMapKeyRef" in ref:
            key = ref["configMapKeyRef"]
            defined[entry["name"]] = str(_configmap(where, configmaps, key["name"])[key["key"]])
    for key in ("command", "args"):
        if key in container:
            container[key] = [expand(t, defined) for t in container[key]]


def _configmap(where: str, configmaps: Dict[str, dict], name: str) -> dict:
    if name not in configmaps:
        raise PlanError(f"{where}: no ConfigMap {name}")
    return configmaps[name].get("data") or {}


def _secret(where: str, secrets: Dict[str, Dict[str, str]], name: str) -> Dict[str, str]:
    if name not in secrets:
        raise PlanError(f"{where}: no Secret {name}")
    return secrets[name]


def _attach_service(service: dict, workloads: List[Workload], host_port: Optional[int]) -> None:
    name = service["metadata"]["name"]
    selector = (service.get("spec") or {}).get("selector") or {}
    labels = {w.name: _labels(w) for w in workloads}
    selected = [w for w in workloads if selector and selector.items() <= labels[w.name].items()]
    if not selected:
        raise PlanError(f"Service/{name} selects no workload (selector {selector})")
    for w in selected:
        w.aliases.append(name)
        for port in service["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            found = [(c, p) for c in w.spec["containers"] for p in c.get("ports", [])
                     if target in (p.get("name"), p["containerPort"])]
            if not found:
                raise PlanError(f"Service/{name} port {port.get('name', port['port'])}: no container of {w.kind}/{w.name} "
                                f"has port {target}")
            if host_port is not None:
                _, container_port = found[0]
                container_port.update(hostPort=host_port, hostIP="127.0.0.1")
                w.host_ports[name] = host_port


def _labels(w: Workload) -> Dict[str, str]:
    played = w.documents[-1]
    meta = played["spec"]["template"]["metadata"] if played["kind"] == "Deployment" else played["metadata"]
    return meta.get("labels") or {}


def dump(documents: List[dict]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False)
