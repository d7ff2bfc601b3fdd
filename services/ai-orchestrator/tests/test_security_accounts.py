"""Issue 17, item 1 (server side): user accounts, login sessions, per-user data, the users CLI.

Each test reproduces what the issue found (anyone holding the service's
credentials saw every conversation and memory; tokens lived in URLs) against
the real app, PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import httpx
import jwt
import psycopg
import pytest
import redis

from apiclient import stream_chat, ws_connect, ws_exchange, ws_first_frame, ws_send, ws_until, ws_url
from cartrita.orchestrator import store
from cartrita.orchestrator.passwords import hash_password
from support import PYTHON, SERVICE_DIR, AppProcess, app_env, free_port, uvicorn_argv, wait_until

HASH_RE = re.compile(r"^scrypt\$16384\$8\$1\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)$")


@dataclass
class User:
    name: str
    password: str
    id: uuid.UUID


def app_dsn(postgres, sentinels) -> str:
    return postgres.dsn("cartrita_app", sentinels.db_password, "cartrita")


def database_url(postgres, sentinels) -> str:
    return f"postgresql://cartrita_app:{sentinels.db_password}@127.0.0.1:{postgres.port}/cartrita"


def redis_url(redis_server, sentinels) -> str:
    return f"redis://:{sentinels.redis_password}@127.0.0.1:{redis_server.port}/0"


def db_rows(postgres, sentinels, sql, params=()):
    with psycopg.connect(app_dsn(postgres, sentinels)) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def make_user(postgres, sentinels):
    def make(password: Optional[str] = None) -> User:
        name = "u" + secrets.token_hex(6)
        password = password or "pw-" + secrets.token_urlsafe(16)
        row = db_rows(postgres, sentinels, "INSERT INTO users (username, password_hash) VALUES (%s, %s) RETURNING id",
                      (name, hash_password(password)))
        return User(name, password, row[0][0])

    return make


def login(client: httpx.Client, user: User) -> Dict[str, str]:
    r = client.post("/api/auth/login", json={"username": user.name, "password": user.password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Session {r.json()['session_token']}"}


def user_jwt(client: httpx.Client, session: Dict[str, str], purpose: Optional[str] = None) -> str:
    r = client.post("/api/auth/token", headers=session, json={"purpose": purpose} if purpose else None)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def run_users(args: List[str], env, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "cartrita.orchestrator.users", *args], cwd=SERVICE_DIR, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120)


def local_client(app: AppProcess, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x.y.z reaches the app): a client address of its own."""
    return httpx.Client(base_url=app.base_url, timeout=10.0, transport=httpx.HTTPTransport(local_address=address))


# -- login, sessions, tokens -------------------------------------------------------------------------------------------


def test_login_answers_a_session_and_me(client, make_user):
    user = make_user()
    r = client.post("/api/auth/login", json={"username": "  " + user.name.upper() + " ", "password": user.password})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"session_token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "session" and body["expires_in"] == 43200
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["session_token"])
    assert body["user"] == {"id": str(user.id), "username": user.name}
    assert r.headers["cache-control"] == "no-store"

    session = {"Authorization": f"Session {body['session_token']}"}
    me = client.get("/api/auth/me", headers=session)
    assert me.status_code == 200 and me.json() == {"user": {"id": str(user.id), "username": user.name}}
    # a user's bearer token, minted from the session, is the same user
    token = user_jwt(client, session)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == f"user:{user.id}" and claims["exp"] - claims["iat"] == 900 and "aud" not in claims
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()["user"]["id"] == str(user.id)


def test_wrong_password_and_unknown_user_get_the_same_answer(client, make_user):
    user = make_user()
    answers = {}
    timings: Dict[str, List[float]] = {"wrong": [], "unknown": []}
    for _ in range(4):
        for kind, name, password in (("wrong", user.name, user.password + "x"),
                                     ("unknown", "nobody" + secrets.token_hex(4), user.password)):
            t = time.perf_counter()
            r = client.post("/api/auth/login", json={"username": name, "password": password})
            timings[kind].append(time.perf_counter() - t)
            answers[kind] = (r.status_code, r.json(), r.headers.get("www-authenticate"))
    assert answers["wrong"] == answers["unknown"]
    assert answers["wrong"][:2] == (401, {"error": "unauthorized", "detail": "invalid username or password"})
    # both pay for one scrypt: an unknown name does not answer faster
    wrong, unknown = statistics.median(timings["wrong"]), statistics.median(timings["unknown"])
    assert 0.5 < unknown / wrong < 2.0, timings
    # a name that can never exist, and a too-short password, are the same 401 (not a 422 that tells the rules)
    for body in ({"username": "-x", "password": user.password}, {"username": user.name, "password": "short"}):
        assert client.post("/api/auth/login", json=body).json()["detail"] == "invalid username or password"


def test_bad_login_and_token_bodies_are_4xx(client, sentinels):
    for path in ("/api/auth/login", "/api/auth/token"):
        nested = client.post(path, content=b"[" * 200_000, headers={"content-type": "application/json"})
        assert nested.status_code == 400, (path, nested.text)
        assert client.post(path, content=b'{"username": ', headers={"content-type": "application/json"}).status_code == 400
        assert client.post(path, json=["a"]).status_code == 422
    for body in ({"username": "x"}, {"username": 1, "password": "p"}, {"username": "\ud800", "password": "p" * 12},
                 {"username": "bob", "password": "p" * 2000}):
        r = client.post("/api/auth/login", content=json.dumps(body), headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["error"] == "validation_error", (body, r.text)
    # a credential that is not the key, lone surrogate or not, is refused as one (issue 17 item 6: 400/401, never 500)
    r = client.post("/api/auth/token", content=json.dumps({"api_key": "\ud800"}), headers={"content-type": "application/json"})
    assert r.status_code == 401, r.text
    assert client.post("/api/auth/token", json={"purpose": "other"}, headers={"X-API-Key": sentinels.api_key}).status_code == 422


def test_logout_ends_the_session(client, make_user):
    user = make_user()
    session = login(client, user)
    other = login(client, user)  # a second device
    assert client.get("/api/conversations", headers=session).status_code == 200
    r = client.post("/api/auth/logout", headers=session)
    assert r.status_code == 204
    for path in ("/api/conversations", "/api/auth/me"):
        r = client.get(path, headers=session)
        assert r.status_code == 401 and "sign in again" in r.json()["detail"]
    assert client.post("/api/auth/token", headers=session).status_code == 401
    assert client.get("/api/auth/me", headers=other).status_code == 200  # only that session ended
    # logout is for sessions; the API key and bearer tokens have nothing to end
    assert client.post("/api/auth/logout", headers={"Authorization": f"Bearer {user_jwt(client, other)}"}).status_code == 400


def test_session_token_and_jwt_are_not_interchangeable(client, make_user, token):
    user = make_user()
    session = login(client, user)
    session_token = session["Authorization"].split(" ", 1)[1]
    r = client.get("/api/conversations", headers={"Authorization": f"Bearer {session_token}"})
    assert r.status_code == 401 and "invalid token" in r.json()["detail"]
    bearer = user_jwt(client, session)
    for jwt_token in (bearer, token):
        r = client.get("/api/conversations", headers={"Authorization": f"Session {jwt_token}"})
        assert r.status_code == 401 and "session" in r.json()["detail"]
    # a bearer token cannot mint another (it would live for ever)
    assert client.post("/api/auth/token", headers={"Authorization": f"Bearer {bearer}"}).status_code == 401
    # the API key's caller is not a user
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_forged_user_tokens_are_refused(client, make_user, sentinels):
    user = make_user()
    now = int(time.time())
    claims = {"sub": f"user:{user.id}", "iat": now, "exp": now + 600, "iss": "cartrita-ai-orchestrator"}
    forged = jwt.encode(claims, "another-secret-that-is-long-enough-000000", algorithm="HS256")
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    bad_sub = jwt.encode({**claims, "sub": "user:not-a-uuid"}, sentinels.jwt_secret, algorithm="HS256")
    r = client.get("/api/conversations", headers={"Authorization": f"Bearer {bad_sub}"})
    assert r.status_code == 401 and "subject" in r.json()["detail"]
    good = jwt.encode(claims, sentinels.jwt_secret, algorithm="HS256")
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_sessions_are_stored_hashed_with_a_ttl(client, make_user, redis_server, sentinels):
    user = make_user()
    session_token = login(client, user)["Authorization"].split(" ", 1)[1]
    r = redis.Redis.from_url(redis_url(redis_server, sentinels))
    try:
        key = "session:" + hashlib.sha256(session_token.encode()).hexdigest()
        assert r.get(key) == str(user.id).encode()
        assert 43000 < r.ttl(key) <= 43200
        assert r.smembers(f"user-sessions:{user.id}") == {key.split(":", 1)[1].encode()}
        for k in r.scan_iter(match="*"):  # the token itself is nowhere
            assert session_token.encode() not in k
            if r.type(k) == b"string":
                assert session_token.encode() not in (r.get(k) or b"")
    finally:
        r.close()


def test_redis_down_is_503_for_a_session_not_401(client, make_user, redis_server, deps_up):
    session = login(client, make_user())
    redis_server.stop()
    r = client.get("/api/conversations", headers=session)
    assert r.status_code == 503 and r.json()["error"] == "service_unavailable" and r.headers["retry-after"]
    redis_server.start()  # the test server keeps nothing on disk: the session is gone, which is a 401 again
    wait_until(lambda: client.get("/api/conversations", headers=session).status_code == 401, 10, what="redis back")


# -- tokens in URLs ----------------------------------------------------------------------------------------------------


def test_query_tokens_only_on_websockets_and_only_ws_tokens(client, app, make_user, token, ws_token, postgres, sentinels):
    user = make_user()
    session = login(client, user)
    user_ws = user_jwt(client, session, "ws")
    claims = jwt.decode(user_ws, options={"verify_signature": False})
    assert claims["aud"] == "ws" and claims["exp"] - claims["iat"] == 60 and claims["sub"] == f"user:{user.id}"

    # the SSE stream takes no token from its URL, not even a ws one
    for t in (token, user_jwt(client, session), user_ws):
        r, _ = stream_chat(client, {"message": "hi", "token": t})
        assert r.status_code == 401, r.text
    r, events = stream_chat(client, {"message": "streamed for a user"}, headers=session)
    assert r.status_code == 200 and events[-1]["event"] == "done"

    # a ws token is refused in headers ...
    r = client.get("/api/conversations", headers={"Authorization": f"Bearer {user_ws}"})
    assert r.status_code == 401 and "/ws/" in r.json()["detail"]
    # ... an ordinary JWT is refused in the WebSocket URL ...
    for t in (token, user_jwt(client, session)):
        frame, code = ws_first_frame(ws_url(app.base_url, f"/ws/chat?token={t}"))
        assert code == 4401 and "WebSocket token" in frame["detail"]
    # ... and a ws token there is the user
    out = ws_exchange(ws_url(app.base_url, f"/ws/chat?token={user_ws}"), [({"message": "ws as a user"}, "done")])
    cid = out[0][-1]["conversation_id"]
    assert db_rows(postgres, sentinels, "SELECT owner_id FROM conversations WHERE id = %s", (cid,)) == [(user.id,)]
    # the service's ws token still works for the service's space
    out = ws_exchange(ws_url(app.base_url, f"/ws/chat?token={ws_token}"), [({"message": "ws as the service"}, "done")])
    cid = out[0][-1]["conversation_id"]
    assert db_rows(postgres, sentinels, "SELECT owner_id FROM conversations WHERE id = %s", (cid,)) == [(None,)]
    # an expired ws token is refused
    now = int(time.time())
    old = jwt.encode({**claims, "iat": now - 120, "exp": now - 60}, sentinels.jwt_secret, algorithm="HS256")
    frame, code = ws_first_frame(ws_url(app.base_url, f"/ws/chat?token={old}"))
    assert code == 4401 and "expired" in frame["detail"]


def test_websocket_with_a_session_header(app, client, make_user, postgres, sentinels):
    user = make_user()
    session = login(client, user)
    out = ws_exchange(ws_url(app.base_url, "/ws/chat"), [({"message": "non-browser client"}, "done")], headers=session)
    cid = out[0][-1]["conversation_id"]
    assert db_rows(postgres, sentinels, "SELECT owner_id FROM conversations WHERE id = %s", (cid,)) == [(user.id,)]


# -- per-user data -----------------------------------------------------------------------------------------------------


def test_users_never_see_each_others_conversations(client, app, make_user, key_headers):
    alice, bob = make_user(), make_user()
    a, b = login(client, alice), user_jwt(client, login(client, bob))
    b = {"Authorization": f"Bearer {b}"}  # bob through a bearer token: the same rules

    mine = client.post("/api/chat", headers=a, json={"message": "alice's secret plan about tulips"}).json()
    cid = mine["conversation_id"]
    service_cid = client.post("/api/chat", headers=key_headers, json={"message": "service note"}).json()["conversation_id"]

    listed = lambda h: {c["id"] for c in client.get("/api/conversations?limit=100", headers=h).json()["conversations"]}
    assert cid in listed(a) and service_cid not in listed(a)
    assert cid not in listed(b) and service_cid not in listed(b)
    assert cid not in listed(key_headers) and service_cid in listed(key_headers)

    missing = str(uuid.uuid4())
    for headers in (b, key_headers):
        for other in (cid, missing):
            r = client.get(f"/api/conversations/{other}", headers=headers)
            assert r.status_code == 404 and r.json() == {"error": "not_found", "detail": f"conversation {other} not found"}
            r = client.post("/api/chat", headers=headers, json={"message": "let me in", "conversation_id": other})
            assert r.status_code == 404
            r, _ = stream_chat(client, {"message": "let me in", "conversation_id": other}, headers=headers)
            assert r.status_code == 404
            assert client.delete(f"/api/conversations/{other}", headers=headers).status_code == 404
    ws = ws_connect(ws_url(app.base_url, "/ws/chat"), headers=b)
    try:
        ws_send(ws, {"message": "let me in", "conversation_id": cid})
        assert ws_until(ws)[0]["error"] == "not_found"
    finally:
        ws.close()

    # alice's conversation is untouched: her two messages, none of theirs
    detail = client.get(f"/api/conversations/{cid}", headers=a).json()
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]
    assert client.delete(f"/api/conversations/{cid}", headers=a).status_code == 204
    assert client.get(f"/api/conversations/{cid}", headers=a).status_code == 404


def test_users_never_see_each_others_memories(client, make_user, key_headers):
    alice, bob = make_user(), make_user()
    a, b = login(client, alice), login(client, bob)
    tag = secrets.token_hex(4)
    text = f"alice keeps the spare key {tag} under the blue flowerpot"
    r = client.post("/api/memory", headers=a, json={"content": text})
    assert r.status_code == 201
    memory_id = r.json()["ids"][0]
    service_text = f"service memory {tag} about the blue flowerpot"
    client.post("/api/memory", headers=key_headers, json={"content": service_text})

    found = lambda h: [m["content"] for m in client.post("/api/memory/search", headers=h,
                                                         json={"query": f"spare key {tag} blue flowerpot", "k": 50}).json()["results"]]
    listed = lambda h: [m["content"] for m in client.get("/api/memory?limit=100", headers=h).json()["memories"]]
    assert found(a)[0] == text and service_text not in found(a) and listed(a) == [text]
    assert text not in found(b) and service_text not in found(b) and listed(b) == []
    assert text not in found(key_headers) and service_text in found(key_headers)
    assert text not in listed(key_headers)
    # chat's memory context is the caller's too
    used = client.post("/api/chat", headers=b, json={"message": f"where is the spare key {tag}?"}).json()["memories_used"]
    assert all(m["id"] != memory_id for m in used)
    used = client.post("/api/chat", headers=a, json={"message": f"where is the spare key {tag}?"}).json()["memories_used"]
    assert any(m["id"] == memory_id for m in used)

    for headers in (b, key_headers):
        r = client.delete(f"/api/memory/{memory_id}", headers=headers)
        assert r.status_code == 404 and r.json()["detail"] == f"memory {memory_id} not found"
    assert client.delete(f"/api/memory/{memory_id}", headers=a).status_code == 204
    assert listed(a) == []


def test_filtered_search_still_returns_k_rows(postgres, sentinels):
    """A user's memories far from the query, behind hundreds of others' nearer ones: the HNSW scan must go on
    (hnsw.iterative_scan) until k of theirs pass the filter. All in one transaction, rolled back."""
    dims = 1536

    def vec(axis: int, noise: int) -> str:
        v = [0.0] * dims
        v[axis] = 1.0
        v[2 + noise % 500] += 0.05 + (noise % 7) * 0.01
        return "[" + ",".join(repr(x) for x in v) + "]"

    async def search():
        async with await psycopg.AsyncConnection.connect(app_dsn(postgres, sentinels)) as conn:
            async with conn.transaction(force_rollback=True):
                crowd, mine = uuid.uuid4(), uuid.uuid4()
                await conn.execute("INSERT INTO users (id, username, password_hash) VALUES (%s, %s, 'x'), (%s, %s, 'x')",
                                   (crowd, "c" + crowd.hex[:10], mine, "m" + mine.hex[:10]))
                rows = [(uuid.uuid4(), f"crowd {i}", {}, vec(0, i)) for i in range(400)]
                await store.insert_memories(conn, rows, crowd)
                await store.insert_memories(conn, [(uuid.uuid4(), f"mine {i}", {}, vec(1, i)) for i in range(15)], mine)
                found = await store.search_memories(conn, vec(0, 3), 10, 40, mine, index_min_rows=0)
                plan = await conn.execute("EXPLAIN " + store.SEARCH_MEMORIES_SQL, {"q": vec(0, 3), "k": 10, "owner": mine})
                return found, "\n".join(r[0] for r in await plan.fetchall())

    found, plan = asyncio.run(search())
    assert "ix_memories_embedding" in plan, plan
    assert len(found) == 10 and all(r["content"].startswith("mine ") for r in found)
    assert [r["distance"] for r in found] == sorted(r["distance"] for r in found)


def test_a_deleted_users_session_writes_nothing(client, make_user, postgres, sentinels):
    user = make_user()
    session = login(client, user)
    db_rows(postgres, sentinels, "DELETE FROM users WHERE id = %s RETURNING id", (user.id,))
    for r in (client.post("/api/memory", headers=session, json={"content": "after deletion"}),
              client.post("/api/chat", headers=session, json={"message": "after deletion"}),
              client.get("/api/auth/me", headers=session)):
        assert r.status_code == 401 and "no longer exists" in r.json()["detail"], r.text
    assert client.get("/api/conversations", headers=session).json() == {"conversations": []}


# -- the first user ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("given, problem", [
    ({"CARTRITA_ADMIN_USER": "root", "CARTRITA_ADMIN_PASSWORD": "elevenchars"},
     "CARTRITA_ADMIN_PASSWORD is too short (11 characters, at least 12 required)"),
    ({"CARTRITA_ADMIN_USER": "root"}, "CARTRITA_ADMIN_PASSWORD is not set"),
    ({"CARTRITA_ADMIN_PASSWORD": "long-enough-password"}, "CARTRITA_ADMIN_USER is not set"),
    ({"CARTRITA_ADMIN_USER": "-root", "CARTRITA_ADMIN_PASSWORD": "long-enough-password"},
     "CARTRITA_ADMIN_USER is not a valid username"),
])
def test_admin_settings_are_checked_at_start_up(service_env, given, problem):
    res = subprocess.run(uvicorn_argv(free_port()), cwd=SERVICE_DIR, env=dict(service_env, **given),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 78 and problem in res.stderr, res.stderr
    if "CARTRITA_ADMIN_PASSWORD" in given:
        assert given["CARTRITA_ADMIN_PASSWORD"] not in res.stdout + res.stderr


def test_admin_user_is_created_once_and_never_overwritten(service_env, workdir, postgres, sentinels):
    name = "admin" + secrets.token_hex(3)
    first, second = "first-" + secrets.token_urlsafe(12), "second-" + secrets.token_urlsafe(12)

    def start(password: str) -> AppProcess:
        proc = AppProcess(dict(service_env, CARTRITA_ADMIN_USER=name.upper(), CARTRITA_ADMIN_PASSWORD=password),
                          workdir, name=f"app-admin-{password[:5]}")
        proc.start()
        return proc

    def logs_in(proc: AppProcess, password: str) -> int:
        return httpx.post(f"{proc.base_url}/api/auth/login", json={"username": name, "password": password}).status_code

    proc = start(first)
    try:
        wait_until(lambda: logs_in(proc, first) == 200, 15, what="the first user")
        created = db_rows(postgres, sentinels, "SELECT id, password_hash FROM users WHERE username = %s", (name,))
    finally:
        proc.stop()
    assert f"created the first user '{name}'" in proc.output()

    proc = start(second)
    try:
        wait_until(lambda: "exists already" in proc.output(), 15, what="the bootstrap's second run")
        assert logs_in(proc, first) == 200 and logs_in(proc, second) == 401
    finally:
        proc.stop()
    assert db_rows(postgres, sentinels, "SELECT id, password_hash FROM users WHERE username = %s", (name,)) == created
    for password in (first, second):
        assert password not in proc.output()


# -- the command line --------------------------------------------------------------------------------------------------


class _FlakyDb:
    """db.run() failing with each of ``failures`` in turn, then creating nobody (the name exists)."""

    def __init__(self, failures):
        self.failures = list(failures)
        self.calls = 0

    async def run(self, work):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return None


def test_bootstrap_admin_retries_only_connection_errors(monkeypatch, caplog):
    from psycopg_pool import PoolTimeout

    from cartrita.orchestrator import users

    monkeypatch.setattr(users, "BOOTSTRAP_RETRY_SECONDS", (0.0,))
    monkeypatch.setattr(users, "hash_password", lambda password: "hash")
    db = _FlakyDb([psycopg.OperationalError("connection refused"), PoolTimeout("no connection")])
    asyncio.run(users.bootstrap_admin(db, "admin", "p" * 12))
    assert db.calls == 3  # two connection failures retried, then done
    caplog.clear()
    db = _FlakyDb([psycopg.errors.UndefinedTable("relation \"users\" does not exist")] * 3)
    asyncio.run(users.bootstrap_admin(db, "admin", "p" * 12))
    assert db.calls == 1  # not a connection problem: logged once, not retried
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "UndefinedTable" in errors[0].getMessage()


def test_users_cli_add_list_passwd_delete(client, postgres, redis_server, sentinels):
    env = app_env(DATABASE_URL=database_url(postgres, sentinels), REDIS_URL=redis_url(redis_server, sentinels))
    name, password, new_password = "cli" + secrets.token_hex(4), "cli-" + secrets.token_urlsafe(12), "new-" + secrets.token_urlsafe(12)
    outputs: List[str] = []

    def run(args: List[str], stdin: str = "") -> subprocess.CompletedProcess:
        res = run_users(args, env, stdin)
        outputs.extend((res.stdout, res.stderr))
        return res

    res = run(["add", name.upper()], password + "\n")
    assert res.returncode == 0, res.stderr
    assert f"user {name} added" in res.stdout
    (stored,) = db_rows(postgres, sentinels, "SELECT password_hash FROM users WHERE username = %s", (name,))[0]
    m = HASH_RE.match(stored)
    assert m, stored
    salt, key = base64.b64decode(m.group(1)), base64.b64decode(m.group(2))
    assert (len(salt), len(key)) == (16, 32)
    assert hashlib.scrypt(password.encode(), salt=salt, n=16384, r=8, p=1, dklen=32) == key

    res = run(["add", name], "another-password-1\n")
    assert res.returncode == 1 and "exists already" in res.stderr
    res = run(["add", "x" + name], "short\n")
    assert res.returncode == 65 and "at least 12" in res.stderr
    res = run(["add", "Not A Name"], password + "\n")
    assert res.returncode == 65 and "not a valid username" in res.stderr
    assert not db_rows(postgres, sentinels, "SELECT 1 FROM users WHERE username = %s", ("x" + name,))

    session = login(client, User(name, password, uuid.uuid4()))
    res = run(["list"])
    assert res.returncode == 0 and re.search(rf"^{name}\t[0-9a-f-]{{36}}\t", res.stdout, re.M), res.stdout

    res = run(["passwd", name], new_password + "\n")
    assert res.returncode == 0 and "1 open session(s) ended" in res.stdout, res.stdout + res.stderr
    assert client.get("/api/auth/me", headers=session).status_code == 401
    assert client.post("/api/auth/login", json={"username": name, "password": password}).status_code == 401
    session = login(client, User(name, new_password, uuid.uuid4()))
    assert client.post("/api/memory", headers=session, json={"content": "cli user memory"}).status_code == 201

    res = run(["delete", name])
    assert res.returncode == 0 and "deleted" in res.stdout and "1 open session(s) ended" in res.stdout
    assert client.get("/api/conversations", headers=session).status_code == 401
    assert db_rows(postgres, sentinels, "SELECT count(*) FROM memories WHERE content = 'cli user memory'") == [(0,)]
    res = run(["delete", name])
    assert res.returncode == 1 and f"no user named {name}" in res.stderr
    res = run(["passwd", name], new_password + "\n")
    assert res.returncode == 1

    for out in outputs:
        assert sentinels.db_password not in out and password not in out and new_password not in out


def test_users_cli_finds_the_running_stack(tmp_path, postgres, sentinels, redis_server):
    run_dir = tmp_path / "data" / "run"
    run_dir.mkdir(parents=True)
    state = {"SchemaVersion": 1, "Database": f"Host=127.0.0.1;Port={postgres.port};Username=cartrita_app;"
                         f"Password={sentinels.db_password};Database=cartrita",
             "DatabaseAdmin": None, "Redis": f"127.0.0.1:{redis_server.port},password={sentinels.redis_password}",
             "Environment": "Development", "AppHostProcessId": os.getpid()}
    (run_dir / "stack.json").write_text(json.dumps(state))
    name = "stack" + secrets.token_hex(4)
    res = run_users(["add", name, "--data-dir", str(tmp_path / "data")], app_env(), "stack-password-1\n")
    assert res.returncode == 0, res.stderr
    res = run_users(["delete", name, "--data-dir", str(tmp_path / "data")], app_env())
    assert res.returncode == 0 and "0 open session(s) ended" in res.stdout, res.stdout + res.stderr
    res = run_users(["list"], app_env())
    assert res.returncode == 78 and "DATABASE_URL is not set" in res.stderr


def test_import_into_a_users_space(tmp_path, client, make_user, postgres, sentinels, key_headers):
    user = make_user()
    tag = secrets.token_hex(4)
    path = tmp_path / "mine.txt"
    path.write_text(f"imported note {tag} about the lighthouse\n")
    env = app_env(DATABASE_URL=database_url(postgres, sentinels))
    run = lambda *args: subprocess.run([PYTHON, "-m", "cartrita.orchestrator.importer", str(path), *args], cwd=SERVICE_DIR,
                                       env=env, capture_output=True, text=True, timeout=300)
    res = run("--owner", "nobody" + tag)
    assert res.returncode == 65 and "no user named" in res.stderr
    res = run("--owner", user.name.upper(), "--keep-index")
    assert res.returncode == 0, res.stderr
    assert f"owner {user.name}" in res.stdout
    assert db_rows(postgres, sentinels, "SELECT owner_id FROM memories WHERE content LIKE %s", (f"%{tag}%",)) == [(user.id,)]
    query = {"query": f"imported note {tag} lighthouse", "k": 5}
    mine = client.post("/api/memory/search", headers=login(client, user), json=query).json()["results"]
    assert mine and tag in mine[0]["content"]
    theirs = client.post("/api/memory/search", headers=key_headers, json=query).json()["results"]
    assert all(tag not in m["content"] for m in theirs)


# -- limits and secrets ------------------------------------------------------------------------------------------------


LOGIN_LIMIT = 3
#: the frontend's proof that it is the proxy (TRUSTED_PROXY_TOKEN): its X-Forwarded-For is believed
PROXY_TOKEN = "loginProxyTokenSentinel-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def strict_app(service_env, workdir, postgres, redis_server):
    # TRUSTED_PROXIES empty, as in Compose/Kubernetes; uvicorn as the image runs it (no proxy headers of its own)
    env = dict(service_env, LOGIN_RATE_LIMIT_REQUESTS=str(LOGIN_LIMIT), RATE_LIMIT_WINDOW_SECONDS="60",
               SESSION_TTL_SECONDS="2", TRUSTED_PROXY_TOKEN=PROXY_TOKEN)
    proc = AppProcess(env, workdir, name="app-strict-login", argv=lambda port: uvicorn_argv(port) + ["--no-proxy-headers"])
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


def fresh_window(seconds: int = 60) -> None:
    """Wait out a fixed window about to end, so a test's attempts all count in one."""
    left = seconds - time.time() % seconds
    if left < 5:
        time.sleep(left + 0.1)


def test_login_is_rate_limited_per_address_and_per_username(strict_app, make_user):
    user = make_user()
    fresh_window()
    # one address, many names
    with local_client(strict_app, "127.0.0.11") as c:
        statuses = [c.post("/api/auth/login", json={"username": f"guess{i}x", "password": "p" * 12}).status_code
                    for i in range(LOGIN_LIMIT + 1)]
        assert statuses == [401] * LOGIN_LIMIT + [429]
        r = c.post("/api/auth/login", json={"username": user.name, "password": user.password})
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60 and r.json()["error"] == "rate_limited"
    # one name, many addresses (rotating addresses does not buy more guesses)
    statuses = []
    for i in range(LOGIN_LIMIT + 1):
        with local_client(strict_app, f"127.0.0.{20 + i}") as c:
            statuses.append(c.post("/api/auth/login", json={"username": user.name, "password": "wrong-password"}).status_code)
    assert statuses == [401] * LOGIN_LIMIT + [429]
    with local_client(strict_app, "127.0.0.30") as c:  # another name from a fresh address is fine
        assert c.post("/api/auth/login", json={"username": make_user().name, "password": "p" * 12}).status_code == 401


def proxied_login(app: AppProcess, user: User, forwarded: str, password: Optional[str] = None) -> httpx.Response:
    """A login passed on by the frontend: the proxy token, and the browser's address in X-Forwarded-For."""
    with httpx.Client(base_url=app.base_url, timeout=10.0) as c:
        return c.post("/api/auth/login", json={"username": user.name, "password": password or user.password},
                      headers={"X-Cartrita-Proxy-Token": PROXY_TOKEN, "X-Forwarded-For": forwarded})


def test_failed_logins_bound_a_username_from_any_address(strict_app, make_user):
    x, y = make_user(), make_user()
    fresh_window()
    # LOGIN_LIMIT wrong passwords for X, each from another browser behind the frontend
    statuses = [proxied_login(strict_app, x, f"198.51.100.{i}", "wrong-password").status_code
                for i in range(LOGIN_LIMIT)]
    assert statuses == [401] * LOGIN_LIMIT
    # X's failures are used up: even the right password is refused (guessing stays bounded), from a fresh address
    r = proxied_login(strict_app, x, "198.51.100.50")
    assert r.status_code == 429 and r.json()["error"] == "rate_limited" and 1 <= int(r.headers["retry-after"]) <= 60
    assert proxied_login(strict_app, x, "198.51.100.51", "another-guess").status_code == 429
    # another user is not affected
    assert proxied_login(strict_app, y, "198.51.100.52").status_code == 200


def test_correct_logins_are_not_locked_out_by_logins_or_others_failures(strict_app, make_user):
    """The lock-out attack: the per-username bucket counted every attempt, so LOGIN_LIMIT requests a window (right
    password or not, from anywhere) kept a known user such as the admin from signing in."""
    x, other = make_user(), make_user()
    fresh_window()
    # far more than LOGIN_LIMIT correct logins of X in one window, each from its own address: all succeed
    statuses = [proxied_login(strict_app, x, f"198.51.101.{i}").status_code for i in range(3 * LOGIN_LIMIT + 2)]
    assert statuses == [200] * (3 * LOGIN_LIMIT + 2)
    # other users' failures, and unknown names, do not count against X
    for i in range(LOGIN_LIMIT + 1):
        proxied_login(strict_app, other, f"198.51.102.{i}", "wrong-password")
        proxied_login(strict_app, User("nobody" + x.name, "p" * 12, uuid.uuid4()), f"198.51.103.{i}")
    assert proxied_login(strict_app, other, "198.51.102.99").status_code == 429
    # fewer failures than the limit do not lock X out either
    for i in range(LOGIN_LIMIT - 1):
        assert proxied_login(strict_app, x, f"198.51.104.{i}", "wrong-password").status_code == 401
    assert proxied_login(strict_app, x, "198.51.104.99").status_code == 200
    # the address still counts every attempt, successful ones too
    assert [proxied_login(strict_app, x, "198.51.105.1").status_code for _ in range(LOGIN_LIMIT + 1)] == \
        [200] * LOGIN_LIMIT + [429]


def test_a_wrong_proxy_token_does_not_make_forwarded_for_believed(strict_app, make_user):
    user = make_user()
    fresh_window()
    statuses = []
    with local_client(strict_app, "127.0.0.60") as c:
        for i, token in enumerate([None, "", "wrong-" + "t" * 40, PROXY_TOKEN[:-1]] * 2):
            headers = {"X-Forwarded-For": f"198.51.106.{i}"}
            if token is not None:
                headers["X-Cartrita-Proxy-Token"] = token
            statuses.append(c.post("/api/auth/login", headers=headers,
                                   json={"username": "nobody" + user.name + str(i), "password": "p" * 12}).status_code)
    # one client address (the peer) for all of them
    assert statuses == [401] * LOGIN_LIMIT + [429] * (8 - LOGIN_LIMIT), statuses
    time.sleep(0.3)
    assert PROXY_TOKEN not in strict_app.output()


def test_sessions_expire_unless_used(strict_app, make_user):
    user = make_user()
    with local_client(strict_app, "127.0.0.40") as c:
        session = login(c, user)
        for _ in range(3):  # each use starts the 2 s again
            time.sleep(1.0)
            assert c.get("/api/auth/me", headers=session).status_code == 200
        time.sleep(2.5)
        r = c.get("/api/auth/me", headers=session)
        assert r.status_code == 401 and "sign in again" in r.json()["detail"]


def test_no_password_in_the_database_or_the_logs(app, client, make_user, postgres, sentinels):
    password = "plaintextSentinel-" + secrets.token_hex(8)
    user = make_user(password)
    session = login(client, user)
    client.post("/api/auth/login", json={"username": user.name, "password": password + "wrong"})
    client.post("/api/auth/login", json={"username": "nobody" + user.name, "password": password})
    client.get("/api/auth/me", headers=session)
    time.sleep(0.3)  # access log lines are written after the response
    with psycopg.connect(postgres.superuser_dsn("cartrita")) as conn:
        dump = [str(r) for r in conn.execute("SELECT u::text FROM users u").fetchall()]
    assert any(user.name in row for row in dump)
    assert not any(password in row for row in dump)
    output = app.output()
    assert f"user {user.name} signed in" in output
    assert password not in output and session["Authorization"].split(" ", 1)[1] not in output
    assert password not in Path(postgres.log).read_text(errors="replace")
