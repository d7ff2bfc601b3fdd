"""The published Kubernetes workloads run by `podman kube play`: they come up, talk to each other through the
Services' names, honour their securityContext, and leave nothing behind.

The `cluster` fixture plays everything in dependency order and runs the probes (startup within Kubernetes' budget,
then readiness and liveness); the tests check the rest. They run in file order; the last one tears down.
"""

from __future__ import annotations


import podkube

RUNNING = ("postgres", "redis", "ai-orchestrator", "frontend")


def test_data_stores_answer_with_the_published_credentials(cluster):
    user = cluster.values["POSTGRES_USER"]
    done = cluster.exec(cluster.plan.workload("postgres"), "postgres", "psql", "-h", "127.0.0.1", "-U", user, "-d",
                        "cartrita", "-tAc", "select extname from pg_extension order by 1",
                        env={"PGPASSWORD": cluster.values["POSTGRES_PASSWORD"]})
    assert {"vector", "uuid-ossp"} <= set(done.stdout.split()), done.stdout  # created by the migrations
    pong = cluster.exec(cluster.plan.workload("redis"), "redis", "redis-cli", "ping",
                        env={"REDISCLI_AUTH": cluster.values["REDIS_PASSWORD"]})
    assert pong.stdout.strip() == "PONG"
    refused = cluster.exec(cluster.plan.workload("redis"), "redis", "redis-cli", "ping", check=False)
    assert "NOAUTH" in refused.stdout + refused.stderr  # the password from the Secret is required


def test_migrations_job_exited_0(cluster):
    w = cluster.plan.workload("migrations")
    state = cluster.podman.inspect(w.podman_name("migrations"))["State"]
    assert (state["Status"], state["ExitCode"]) in {("exited", 0), ("stopped", 0)}, state


def test_orchestrator_health_reports_database_and_redis(cluster):
    status, body = _get(cluster, "ai-orchestrator", "/health")
    assert status == 200, body
    assert body["checks"]["database"]["status"] == "ok", body  # postgres resolved through its Service's name
    assert body["checks"]["redis"]["status"] == "ok", body


def test_frontend_health_reports_the_orchestrator(cluster):
    status, body = _get(cluster, "frontend", "/api/health")
    assert status == 200, body
    assert body["service"] == "frontend", body
    assert body["orchestrator"]["reachable"] and body["orchestrator"]["status"] == "healthy", body


def _get(cluster, service: str, path: str):
    return podkube.get_json(cluster.plan.workload(service).host_ports[service], path)


def test_security_context_is_honoured_at_run_time(cluster):
    problems = []
    for w in cluster.plan.workloads:
        for c in w.spec["containers"]:
            problems += _security_problems(cluster, w, c)
    assert not problems, "\n".join(problems)


def _security_problems(cluster, w, c) -> list:
    where = f"{w.name}/{c['name']}"
    want = dict(w.spec.get("securityContext") or {}, **(c.get("securityContext") or {}))
    info = cluster.podman.inspect(w.podman_name(c["name"]))
    problems = []
    uid = str(want["runAsUser"])
    if info["Config"]["User"].split(":")[0] != uid:
        problems.append(f"{where}: runs as {info['Config']['User']!r}, not {uid}")
    if want.get("readOnlyRootFilesystem") and not info["HostConfig"]["ReadonlyRootfs"]:
        problems.append(f"{where}: root filesystem is writable")
    if "ALL" in want.get("capabilities", {}).get("drop", []) and info.get("EffectiveCaps"):
        problems.append(f"{where}: has capabilities {info['EffectiveCaps']}")
    if want.get("allowPrivilegeEscalation") is False and "no-new-privileges" not in info["HostConfig"]["SecurityOpt"]:
        problems.append(f"{where}: no no-new-privileges in {info['HostConfig']['SecurityOpt']}")
    limit = c.get("resources", {}).get("limits", {}).get("memory")
    if limit and info["HostConfig"]["Memory"] != podkube.quantity_bytes(limit):
        problems.append(f"{where}: memory limit {info['HostConfig']['Memory']}, not {limit}")
    if w.kind == "Job":  # exited: what inspect says is all there is
        return problems
    # The server process itself (PID 1 of the container), as the kernel sees it.
    status = podkube.proc_status(cluster.exec(w, c["name"], "cat", "/proc/1/status").stdout)
    if set(status["Uid"].split()) != {uid}:
        problems.append(f"{where}: PID 1 uids {status['Uid']}")
    if int(status["CapEff"], 16) or int(status["CapPrm"], 16):
        problems.append(f"{where}: PID 1 capabilities eff {status['CapEff']} prm {status['CapPrm']}")
    if status.get("NoNewPrivs") != "1":
        problems.append(f"{where}: PID 1 NoNewPrivs {status.get('NoNewPrivs')}")
    touch = cluster.exec(w, c["name"], "touch", "/.kube-probe", check=False)
    if touch.returncode == 0 or "Read-only file system" not in touch.stderr:
        problems.append(f"{where}: writing to / gave exit {touch.returncode} {touch.stderr.strip()}")
    return problems


def test_teardown_leaves_nothing(cluster):
    cluster.down()
    assert cluster.leftovers() == {}
