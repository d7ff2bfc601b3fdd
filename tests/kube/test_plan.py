"""The transformation of the published objects into what podman runs: only the documented changes, nothing lost.

These run without podman, on the freshly published kustomization (and on small hand-written objects for the rules).
"""

from __future__ import annotations

import copy

import pytest

import kubeplay


def test_every_pod_template_is_played_and_the_rest_is_listed(documents, plan):
    kinds = {f"{d['kind']}/{d['metadata']['name']}" for d in documents}
    played = {f"{w.kind}/{w.name}" for w in plan.workloads}
    assert played == {k for k in kinds if k.split("/")[0] in kubeplay.PLAYED}
    assert {"StatefulSet/postgres", "StatefulSet/redis", "Job/migrations", "Deployment/ai-orchestrator",
            "Deployment/frontend"} <= played
    assert set(plan.not_executed) == {k for k in kinds if k.split("/")[0] not in kubeplay.PLAYED | kubeplay.USED}
    # Said plainly in deploy/README.md: these are schema-checked only.
    assert {k.split("/")[0] for k in plan.not_executed} >= {"Namespace", "NetworkPolicy", "HorizontalPodAutoscaler", "CronJob"}


@pytest.mark.parametrize("name", ["postgres", "redis", "migrations", "ai-orchestrator", "frontend"])
def test_containers_env_probes_security_are_the_templates(documents, plan, name):
    template = next(d for d in documents if d["metadata"]["name"] == name and d["kind"] in kubeplay.PLAYED)["spec"]["template"]["spec"]
    w = plan.workload(name)
    for key in ("containers", "initContainers"):
        secret_volumes = {v["name"] for v in template.get("volumes", []) if "secret" in v}
        assert [_as_template(c, secret_volumes) for c in w.spec.get(key, [])] == \
            [_as_template(_unescaped(c), secret_volumes) for c in template.get(key, [])], f"{name}: {key} differ"
        assert all(m.get("readOnly") for c in w.spec.get(key, []) for m in c.get("volumeMounts", [])
                   if m["name"] in secret_volumes), f"{name}: a secret volume is mounted writable"
    for key in set(template) - {"containers", "initContainers", "volumes", "restartPolicy"}:
        assert w.spec[key] == template[key], f"{name}: {key} differs"
    policy = template.get("restartPolicy", "Always")
    expected = "OnFailure" if template.get("initContainers") and policy == "Always" else policy
    assert w.spec.get("restartPolicy", "Always") == expected
    # Volumes: the same names; emptyDirs as host directories; StatefulSet claims added.
    as_template = []
    for v in w.spec.get("volumes", []):
        if v.get("hostPath", {}).get("path") in w.secret_dirs:
            as_template.append({"name": v["name"], "secret": w.secret_dirs[v["hostPath"]["path"]]["source"]})
        elif "hostPath" in v:
            emptydir = {k: x for k, x in w.empty_dirs[v["hostPath"]["path"]].items() if k != "fsGroup"}
            as_template.append({"name": v["name"], "emptyDir": emptydir})
        elif not v.get("persistentVolumeClaim", {}).get("claimName", "").endswith(f"-{name}-0"):
            as_template.append(v)
    assert sorted(as_template, key=lambda v: v["name"]) == sorted(template.get("volumes", []), key=lambda v: v["name"])


def _as_template(container: dict, secret_volumes: set) -> dict:
    """A container without the documented additions: host ports, read-only on secret volume mounts."""
    c = copy.deepcopy(container)
    for p in c.get("ports", []):
        p.pop("hostPort", None), p.pop("hostIP", None)
    for m in c.get("volumeMounts", []):
        if m["name"] in secret_volumes:
            m.pop("readOnly", None)
    return c


def _unescaped(container: dict) -> dict:
    """A template container as the kubelet runs it when it references no variable: only $$ -> $ in its texts."""
    c = copy.deepcopy(container)
    for key in ("command", "args"):
        if key in c:
            c[key] = [t.replace("$$", "$") for t in c[key]]
    for e in c.get("env", []):
        if "value" in e:
            e["value"] = e["value"].replace("$$", "$")
    return c


def test_statefulset_claims_are_named_as_the_controller_names_them(plan, documents):
    for sts in (d for d in documents if d["kind"] == "StatefulSet"):
        w = plan.workload(sts["metadata"]["name"])
        assert w.pod == f"{sts['metadata']['name']}-0"
        claims = {d["metadata"]["name"]: d for d in w.documents if d["kind"] == "PersistentVolumeClaim"}
        for tpl in sts["spec"]["volumeClaimTemplates"]:
            claim = f"{tpl['metadata']['name']}-{sts['metadata']['name']}-0"
            assert claims[claim]["spec"] == tpl["spec"]
            mounted = [v for v in w.spec["volumes"] if v.get("persistentVolumeClaim", {}).get("claimName") == claim]
            assert [v["name"] for v in mounted] == [tpl["metadata"]["name"]]


def test_empty_dirs_and_secret_volumes_are_fresh_directories_per_workload(plan):
    paths = [v["hostPath"]["path"] for w in plan.workloads for v in w.spec.get("volumes", []) if "hostPath" in v]
    assert paths and len(paths) == len(set(paths)), paths
    assert {p for w in plan.workloads for p in list(w.empty_dirs) + list(w.secret_dirs)} == set(paths)
    for w in plan.workloads:
        mounts = {m["name"] for c in w.spec.get("initContainers", []) + w.spec["containers"] for m in c.get("volumeMounts", [])}
        assert mounts <= {v["name"] for v in w.spec.get("volumes", [])}, f"{w.name}: a mount names no volume"
        assert not any("emptyDir" in v for v in w.spec.get("volumes", [])), w.name


def test_services_become_aliases_and_host_ports(plan):
    assert plan.workload("postgres").aliases == ["postgres"]
    assert plan.workload("redis").aliases == ["redis"]
    assert plan.workload("ai-orchestrator").aliases == ["ai-orchestrator"]
    assert plan.workload("frontend").aliases == ["frontend"]
    for name in ("ai-orchestrator", "frontend"):
        w = plan.workload(name)
        published = [p for c in w.spec["containers"] for p in c.get("ports", []) if "hostPort" in p]
        assert [(p["hostIP"], p["hostPort"]) for p in published] == [("127.0.0.1", w.host_ports[name])]


def test_secrets_referenced_exist_with_their_keys(plan):
    for w in plan.workloads:
        for c in w.spec.get("initContainers", []) + w.spec["containers"]:
            for e in c.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in plan.secrets.get(ref["name"], {}), f"{w.name}/{c['name']}: {ref}"


# --- the rules, on small objects ----------------------------------------------------------------------------------

def _deployment(labels=None, env=None, ports=None, args=None):
    container = {"name": "app", "image": "x", "env": env or [], "ports": ports or [{"name": "http", "containerPort": 80}]}
    if args:
        container["args"] = args
    return {"kind": "Deployment", "metadata": {"name": "app"},
            "spec": {"template": {"metadata": {"labels": labels or {"app": "app"}}, "spec": {"containers": [container]}}}}


def _service(selector, target="http"):
    return {"kind": "Service", "metadata": {"name": "svc"},
            "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": target}]}}


def test_a_service_selecting_nothing_is_an_error():
    with pytest.raises(kubeplay.PlanError, match="Service/svc selects no workload"):
        kubeplay.plan([_deployment(), _service({"app": "other"})])


def test_a_service_target_port_no_container_has_is_an_error():
    with pytest.raises(kubeplay.PlanError, match="no container of Deployment/app has port web"):
        kubeplay.plan([_deployment(), _service({"app": "app"}, target="web")])


def test_dependent_variables_are_expanded_as_kubernetes_does():
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"PW": "cEB3L2Q="}}  # p@w/d
    env = [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "PW"}}},
           {"name": "URL", "value": "redis://:$(PW)@redis:6379/0"},
           {"name": "LATER", "value": "$(UNDEFINED) $$(PW)"}]
    plan = kubeplay.plan([secret, _deployment(env=env, args=["--url", "$(URL)"])])
    c = plan.workload("app").container("app")
    values = {e["name"]: e.get("value") for e in c["env"]}
    assert values["URL"] == "redis://:p@w/d@redis:6379/0"
    assert values["LATER"] == "$(UNDEFINED) $(PW)"
    assert c["args"] == ["--url", "redis://:p@w/d@redis:6379/0"]
    assert c["env"][0]["valueFrom"]  # podman still resolves the reference itself


def test_no_reference_means_no_change():
    env = [{"name": "A", "value": "plain"}]
    assert kubeplay.plan([_deployment(env=env)]).workload("app").container("app")["env"] == env


def test_a_host_port_for_an_unknown_service_is_an_error():
    with pytest.raises(kubeplay.PlanError, match="no Service named nope"):
        kubeplay.plan([_deployment()], host_ports={"nope": 1234})
