"""The published Compose stack, up for real on each engine, checked only through 127.0.0.1 ports and the engine.

The tests run in file order on one stack per engine: up → hardening → health → chat/memory → stop → down, then an up
with another postgres password is refused (volume kept) → down/up with the right one keeps the data → backup restores
(as the database's owner, through the job's own checked restore) → teardown leaves nothing.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest

import prodstack as ps

SERVICES = {"postgres", "redis", "migrations", "ai-orchestrator", "frontend"}
ONE_SHOT = {"migrations"}
PUBLISHING = {"ai-orchestrator", "frontend"}
UP_TIMEOUT = 240  # seconds, the wrapper's bound; a cold up is about a minute here (healthcheck intervals)
STOP_LIMIT = 10.0
# Podman reports `cap_drop: [ALL]` as the list of its default capabilities, each dropped.
PODMAN_DEFAULT_CAPS = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
                       "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}


def up(stack, figure: str) -> None:
    started = time.monotonic()
    done = stack.wrapper("up", "--timeout", str(UP_TIMEOUT), timeout=UP_TIMEOUT + 60)
    stack.figures[figure] = round(time.monotonic() - started, 1)
    assert f"{stack.project} is up" in done.stdout, done.stdout + done.stderr
    assert_all_up(stack)


def assert_all_up(stack) -> None:
    ids = stack.containers()
    assert set(ids) == SERVICES, f"services: {sorted(ids)}"
    problems = []
    for service, cid in ids.items():
        state = stack.engine.inspect(cid)["State"]
        if service in ONE_SHOT:
            if (state["Status"], state["ExitCode"]) != ("exited", 0):
                problems.append(f"{service}: {state['Status']} exit {state['ExitCode']}")
        elif state["Status"] != "running" or (state.get("Health") or {}).get("Status") != "healthy":
            problems.append(f"{service}: {state['Status']} health {(state.get('Health') or {}).get('Status')}")
    assert not problems, problems


@pytest.fixture(scope="session")
def data():
    """What the tests stored, to find again after restarts."""
    return {"marker": uuid.uuid4().hex}


def test_up_all_healthy(stack):
    up(stack, "up_cold_seconds")


def test_hardening_holds_at_run_time(stack):
    problems = []
    for service, cid in stack.containers().items():
        info = stack.engine.inspect(cid)
        config, host = info["Config"], info["HostConfig"]
        user = (config.get("User") or "").split(":")[0]
        if user in ("", "root", "0"):
            problems.append(f"{service}: runs as root (User={config.get('User')!r})")
        if not host.get("ReadonlyRootfs"):
            problems.append(f"{service}: root filesystem is writable")
        if host.get("CapAdd"):
            problems.append(f"{service}: capabilities added: {host['CapAdd']}")
        dropped = {c.upper().removeprefix("CAP_") for c in host.get("CapDrop") or []}
        if "ALL" not in dropped and not PODMAN_DEFAULT_CAPS <= dropped:
            problems.append(f"{service}: CapDrop is {host.get('CapDrop')}, not ALL")
        if not any(re.fullmatch(r"no-new-privileges(:true)?", o) for o in host.get("SecurityOpt") or []):
            problems.append(f"{service}: no no-new-privileges in {host.get('SecurityOpt')}")
        # Compose 1.29 applies deploy.resources.limits without --compatibility; a lost limit is a silent regression.
        if not host.get("Memory") or not (host.get("NanoCpus") or host.get("CpuQuota")):
            problems.append(f"{service}: no memory/CPU limit (Memory={host.get('Memory')}, NanoCpus={host.get('NanoCpus')})")
        if info["State"]["Status"] == "running":
            # What the kernel enforces on PID 1, whatever the engine reports.
            status = dict(line.split(":\t", 1) for line in
                          stack.engine.cli("exec", cid, "cat", "/proc/1/status").stdout.splitlines() if ":\t" in line)
            if int(status.get("CapEff", "1"), 16) != 0 or status.get("NoNewPrivs", "0").strip() != "1":
                problems.append(f"{service}: PID 1 has CapEff {status.get('CapEff')}, NoNewPrivs {status.get('NoNewPrivs')}")
        bindings = [b for spec in (host.get("PortBindings") or {}).values() for b in spec or []]
        if bindings and service not in PUBLISHING:
            problems.append(f"{service}: publishes ports {bindings}")
        problems += [f"{service}: port {b.get('HostPort')} bound on {b.get('HostIp') or 'all interfaces'}"
                     for b in bindings if b.get("HostIp") != "127.0.0.1"]
    assert not problems, "\n".join(problems)


def test_frontend_health_reports_the_orchestrator(stack):
    status, body = stack.frontend("GET", "/api/health", api_key=False)
    assert status == 200, body
    assert body["service"] == "frontend"
    orchestrator = body["orchestrator"]
    assert orchestrator["reachable"] and orchestrator["status"] == "healthy", orchestrator
    assert orchestrator["checks"]["database"]["status"] == "ok", orchestrator
    assert orchestrator["checks"]["redis"]["status"] == "ok", orchestrator


def test_chat_and_memory_work_with_the_api_key(stack, data):
    status, body = stack.orchestrator("GET", "/api/conversations", api_key=False)
    assert status == 401, body

    status, chat = stack.orchestrator("POST", "/api/chat", {"message": f"hello from the production test {data['marker']}"})
    assert status == 200, chat
    assert chat["reply"] and chat["conversation_id"], chat
    data["conversation_id"] = chat["conversation_id"]

    status, added = stack.orchestrator("POST", "/api/memory", {"content": f"the lighthouse keeper's word is {data['marker']}"})
    assert status == 201 and added["count"] == 1, added
    data["memory_id"] = added["ids"][0]
    assert_memory_found(stack, data)

    # The frontend acts only for a signed-in user (issue 17): without a session it answers 401, even with the API key.
    for api_key in (False, True):
        status, found = stack.frontend("POST", "/api/memory/search", {"query": f"lighthouse keeper {data['marker']}", "k": 3},
                                       api_key=api_key)
        assert status == 401 and found == {"error": "unauthorized", "detail": "sign in first"}, found


def assert_memory_found(stack, data) -> None:
    status, found = stack.orchestrator("POST", "/api/memory/search", {"query": f"lighthouse keeper {data['marker']}", "k": 3})
    assert status == 200, found
    assert found["results"] and found["results"][0]["id"] == data["memory_id"], found


def assert_conversation_kept(stack, data) -> None:
    status, conversation = stack.orchestrator("GET", f"/api/conversations/{data['conversation_id']}")
    assert status == 200, conversation
    assert [m["role"] for m in conversation["messages"]] == ["user", "assistant"], conversation
    assert data["marker"] in conversation["messages"][0]["content"]


def test_stop_is_quick_and_clean(stack, data):
    data["redis_key"] = f"cartrita:e2e:{data['marker']}"
    assert stack.redis_cli("SET", data["redis_key"], data["marker"]) == "OK"
    started = time.monotonic()
    stack.wrapper("stop", timeout=120)
    elapsed = round(time.monotonic() - started, 1)
    stack.figures["stop_seconds"] = elapsed
    exits = {}
    for service, cid in stack.containers().items():
        state = stack.engine.inspect(cid)["State"]
        exits[service] = state["ExitCode"]
        assert state["Status"] == "exited", f"{service} is {state['Status']} after stop"
        assert not state.get("OOMKilled"), f"{service} was OOM-killed"
    stack.figures["stop_exit_codes"] = exits
    killed = [s for s, code in exits.items() if code == 137]
    assert not killed, f"SIGKILLed on stop (exit 137): {killed}; all exit codes: {exits}"
    assert elapsed < STOP_LIMIT, f"stop took {elapsed} s (limit {STOP_LIMIT} s); exit codes {exits}"


def test_old_volume_with_another_password_is_refused_and_kept(stack, converter):
    stack.wrapper("down", timeout=120)
    ps.publish(converter, stack.directory, dict(stack.values, POSTGRES_PASSWORD="another-" + uuid.uuid4().hex))
    try:
        started = time.monotonic()
        failed = stack.wrapper("up", "--timeout", str(UP_TIMEOUT), timeout=UP_TIMEOUT + 60, check=False)
        assert failed.returncode != 0, failed.stdout
        assert time.monotonic() - started < 120, "a refused password should fail fast, not wait for the timeout"
        volume = f"{stack.project}_cartrita-postgres-data"
        lines = [line for line in failed.stderr.splitlines() if "postgres-password" in line and volume in line]
        assert lines, f"no one-line fix naming secrets/postgres-password and {volume}:\n{failed.stderr}"
        stack.engine.cli("volume", "inspect", volume)
    finally:
        stack.wrapper("down", timeout=120, check=False)
        ps.publish(converter, stack.directory, stack.values)


def test_down_then_up_keeps_the_data(stack, data):
    # The previous test took the stack down (and tried the volume with a wrong password): the data must all be back.
    stack.wrapper("down", timeout=120)
    assert not stack.containers(), "down left containers"
    up(stack, "up_warm_seconds")
    assert stack.redis_cli("GET", data["redis_key"]) == data["marker"], "the redis key written before stop is gone"
    assert_conversation_kept(stack, data)
    assert_memory_found(stack, data)


# Restores the newest backup with the job's own `restore` (checksum and content checks, loaded as the owner into a
# scratch database cloned from the template, swapped in), then prints the fingerprints of the database it replaced
# (kept as <db>_before_restore_<time>) and of the restored one, and drops the replaced one.
RESTORE_AND_COMPARE = r"""
set -eu
sh /opt/backup/backup.sh restore "$1" >&2
export PGPASSWORD="$(cat "$BACKUP_PASSWORD_FILE")"
previous=$(psql -X -At -d postgres -c "select datname from pg_database where datname like '${PGDATABASE}_before_restore_%' order by 1 desc limit 1")
psql -X -q -d postgres -c "alter database \"$previous\" with allow_connections true"  # the restore closed it
for db in "$previous" "$PGDATABASE"; do
  psql -X -At -d "$db" -c "select (select count(*) from conversations), (select count(*) from messages),
    (select count(*) from memories), (select md5(string_agg(id::text || content, ',' order by id)) from messages),
    (select md5(string_agg(embedding::text, ',' order by id)) from memories)"
done
psql -X -q -d postgres -c "drop database \"$previous\""
"""


def test_backup_writes_a_dump_that_restores(stack):
    stack.compose("--profile", "backup", "run", "--rm", "-T", "backup", timeout=180)
    listed = stack.compose("--profile", "backup", "run", "--rm", "-T", "backup", "list", timeout=120).stdout
    names = re.findall(r"cartrita_\d{8}_\d{6}\.sql\.gz", listed)
    assert names, f"backup list shows no backup:\n{listed}"
    compared = stack.compose("--profile", "backup", "run", "--rm", "-T", "--entrypoint", "/bin/sh", "backup",
                             "-c", RESTORE_AND_COMPARE, "restore-check", names[0], timeout=180).stdout.split()
    assert len(compared) == 2, compared
    live, restored = compared
    assert live == restored, f"restored database differs: live {live}, restored {restored}"
    counts = live.split("|")[:3]
    assert all(int(c) > 0 for c in counts), f"conversations/messages/memories: {counts}"


def test_teardown_leaves_nothing(stack):
    stack.compose("--profile", "backup", "down", "-v", "--remove-orphans", timeout=180)
    assert ps.leftovers(stack.engine, stack.project) == {}
