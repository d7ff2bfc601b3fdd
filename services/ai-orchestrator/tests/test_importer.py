"""Bulk memory import (``python3 -m cartrita.orchestrator.importer``) into the real PostgreSQL.

The importer runs as the command users run, in a subprocess; its rows are
then looked up through the running app's search API.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import uuid
from pathlib import Path
from typing import List

import psycopg
import pytest

from cartrita.orchestrator.importer import parse_npgsql
from support import PYTHON, SERVICE_DIR, app_env


def app_dsn(postgres, sentinels) -> str:
    return postgres.dsn("cartrita_app", sentinels.db_password, "cartrita")


def database_url(postgres, sentinels) -> str:
    return f"postgresql://cartrita_app:{sentinels.db_password}@127.0.0.1:{postgres.port}/cartrita"


def run_import(args: List[str], env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "cartrita.orchestrator.importer", *args],
        cwd=SERVICE_DIR, env=env, capture_output=True, text=True, timeout=300,
    )


def memory_count(postgres, sentinels) -> int:
    with psycopg.connect(app_dsn(postgres, sentinels)) as conn:
        return conn.execute("SELECT count(*) FROM memories").fetchone()[0]


def index_definitions(postgres, sentinels):
    with psycopg.connect(app_dsn(postgres, sentinels)) as conn:
        return conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'memories' ORDER BY 1").fetchall()


def write_lines(path: Path, lines: List[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def env(postgres, sentinels):
    return app_env(DATABASE_URL=database_url(postgres, sentinels))


def no_secret(res: subprocess.CompletedProcess, sentinels) -> None:
    assert sentinels.db_password not in res.stdout + res.stderr


def test_jsonl_import_with_index_rebuild_is_searchable_and_keeps_the_index(tmp_path, env, api, postgres, sentinels):
    tag = uuid.uuid4().hex[:8]
    n = 3000
    given_id = uuid.uuid4()
    # distinct texts: thousands of near-duplicates ("note 1", "note 2", ...) are a worst case for any HNSW graph
    rng = random.Random(tag)
    vocab = ["".join(rng.choice("bcdfghjklmnprstvz") + rng.choice("aeiou") for _ in range(3)) for _ in range(4000)]
    texts = [" ".join(rng.sample(vocab, 7)) + f" {tag}" for _ in range(n)]
    lines = [json.dumps({"content": text, "metadata": {"i": i, "source": "bulk"}}) for i, text in enumerate(texts)]
    # it shares the tag word with the others: a memory sharing no word with any other is orthogonal to all of them
    # under the local embedder, and an HNSW search has no gradient to lead it there
    lines[7] = json.dumps({"content": f"the heron nests by the old mill pond {tag}", "id": str(given_id),
                           "metadata": {"bird": True}, "created_at": "2025-03-04T05:06:07.123456+02:00"})
    lines.insert(100, "")  # blank lines are skipped
    path = write_lines(tmp_path / "memories.jsonl", lines)
    try:
        _import_rebuild_and_search(path, texts, n, tag, given_id, env, api, postgres, sentinels)
    finally:
        # The session's other tests share this table and assert exact nearest neighbours: 3,000 random-vocabulary
        # rows left behind make the planner pick the approximate HNSW index for their searches.
        with psycopg.connect(postgres.superuser_dsn("cartrita"), autocommit=True) as conn:
            conn.execute("DELETE FROM memories WHERE content LIKE %s", (f"%{tag}",))
            conn.execute("VACUUM ANALYZE memories")


def _import_rebuild_and_search(path, texts, n, tag, given_id, env, api, postgres, sentinels):
    before_defs = index_definitions(postgres, sentinels)
    assert any("hnsw" in d for _, d in before_defs)
    before = memory_count(postgres, sentinels)
    assert before < n  # so the default rule (rows to import >= rows in the table) rebuilds the index

    res = run_import([str(path), "--batch-size", "512"], env)
    assert res.returncode == 0, res.stderr
    no_secret(res, sentinels)
    assert f"Imported {n:,} memories from {path} (JSON Lines) into database cartrita on 127.0.0.1:{postgres.port}" in res.stdout
    assert "ix_memories_embedding rebuilt" in res.stdout and "vectors/s" in res.stdout
    assert memory_count(postgres, sentinels) == before + n
    assert index_definitions(postgres, sentinels) == before_defs  # same name, same definition

    for i in (0, 1234, n - 1):
        text = texts[i]
        r = api.post("/api/memory/search", json={"query": text, "k": 3})
        assert r.status_code == 200, r.text
        top = r.json()["results"][0]
        assert top["content"] == text and top["score"] > 0.99
        assert top["metadata"] == {"i": i, "source": "bulk"}
    r = api.post("/api/memory/search", json={"query": f"the heron nests by the old mill pond {tag}", "k": 1})
    top = r.json()["results"][0]
    assert top["id"] == str(given_id) and top["metadata"] == {"bird": True}
    assert top["created_at"].startswith("2025-03-04T03:06:07.123456")

    # the same text through the API is stored as the very same vector
    r = api.post("/api/memory", json={"content": f"the heron nests by the old mill pond {tag}"})
    api_id = r.json()["ids"][0]
    with psycopg.connect(app_dsn(postgres, sentinels)) as conn:
        same, updated = conn.execute(
            "SELECT a.embedding = b.embedding, b.updated_at = b.created_at FROM memories a, memories b "
            "WHERE a.id = %s AND b.id = %s", (api_id, given_id)).fetchone()
    assert same is True and updated is True


def test_plain_text_import_into_the_live_index(tmp_path, env, api, postgres, sentinels):
    tag = uuid.uuid4().hex[:8]
    path = write_lines(tmp_path / "notes.txt", [f"zephyr{tag} one", "", "   ", f"zephyr{tag} two {{not json}}", f"zephyr{tag} three"])
    r = api.post("/api/memory", json={"items": [{"content": f"already there {tag} {i}"} for i in range(4)]})
    assert r.status_code == 201
    before = memory_count(postgres, sentinels)
    before_defs = index_definitions(postgres, sentinels)

    res = run_import([str(path), "--json"], env)  # 3 rows into a larger table: the index stays live
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["rows"] == 3 and summary["format"] == "plain text" and summary["rebuilt_indexes"] == []
    assert summary["existing_rows"] == before and summary["embedder"].startswith("local ")
    assert summary["vectors_per_s"] > 0 and summary["index_s"] == 0
    assert memory_count(postgres, sentinels) == before + 3
    assert index_definitions(postgres, sentinels) == before_defs
    r = api.post("/api/memory/search", json={"query": f"zephyr{tag} two {{not json}}", "k": 1})
    assert r.json()["results"][0]["content"] == f"zephyr{tag} two {{not json}}"


def test_bad_lines_are_all_named_and_nothing_is_written(tmp_path, env, postgres, sentinels):
    lines = [json.dumps({"content": f"fine line {i}"}) for i in range(60)]
    lines[36] = json.dumps({"content": "x", "metadata": ["not", "an", "object"]})
    lines[40] = json.dumps({"content": "x", "agent": "code"})
    lines[43] = '{"content": "unterminated'
    lines[47] = json.dumps({"content": "   "})
    lines[50] = json.dumps({"content": "x", "id": "not-a-uuid"})
    lines[52] = json.dumps({"content": "x", "created_at": "2026-01-01T12:00:00"})
    lines[55] = json.dumps({"content": "x", "metadata": {"n": float("nan")}})
    path = write_lines(tmp_path / "bad.jsonl", lines)
    before = memory_count(postgres, sentinels)

    res = run_import([str(path)], env)
    assert res.returncode == 65, res.stdout + res.stderr
    err = res.stderr
    assert "nothing was imported" in err
    assert f"{path}:37: metadata must be a JSON object" in err
    assert f"{path}:41: unknown field 'agent'" in err and '"metadata": {"agent": ...}' in err
    assert f"{path}:44: not valid JSON" in err
    assert f"{path}:48: content must not be empty" in err
    assert f"{path}:51: id must be a UUID" in err
    assert f"{path}:53: created_at must be an ISO 8601 time with a zone" in err
    assert f"{path}:56: NaN is not valid JSON" in err
    assert err.count(f"{path}:") == 7
    assert memory_count(postgres, sentinels) == before

    good = write_lines(tmp_path / "good.jsonl", [json.dumps({"content": f"valid {i}"}) for i in range(5)])
    res = run_import([str(good), "--dry-run"], env)
    assert res.returncode == 0 and "5 memories (JSON Lines) are valid; nothing written (--dry-run)" in res.stdout
    assert memory_count(postgres, sentinels) == before

    raw = tmp_path / "latin1.txt"
    raw.write_bytes("good line\nanother\ncaf\xe9 au lait\n".encode("latin-1"))
    res = run_import([str(raw)], env)
    assert res.returncode == 65
    assert f"{raw}:3: not valid UTF-8 (byte 0xe9 at column 4); save the file as UTF-8" in res.stderr
    assert memory_count(postgres, sentinels) == before


def test_duplicate_ids_are_refused_before_anything_is_written(tmp_path, env, postgres, sentinels):
    first = uuid.uuid4()
    path = write_lines(tmp_path / "dups.jsonl", [json.dumps({"content": "a", "id": str(first)}),
                                                 json.dumps({"content": "b"}),
                                                 json.dumps({"content": "c", "id": str(first)})])
    res = run_import([str(path)], env)
    assert res.returncode == 65
    assert f"{path}:3: id {first} is already used on line 1" in res.stderr

    existing = uuid.uuid4()
    assert run_import([str(write_lines(tmp_path / "one.jsonl", [json.dumps({"content": "first", "id": str(existing)})]))],
                      env).returncode == 0
    before = memory_count(postgres, sentinels)
    path = write_lines(tmp_path / "again.jsonl", [json.dumps({"content": "new"}), json.dumps({"content": "x", "id": str(existing)})])
    res = run_import([str(path), "--rebuild-index"], env)
    assert res.returncode == 65
    assert f"{path}:2: id {existing} is already in memories" in res.stderr
    assert memory_count(postgres, sentinels) == before


def test_a_failure_midway_rolls_back_rows_and_index(tmp_path, env, postgres, sentinels):
    tag = uuid.uuid4().hex[:8]
    lines = [f"rollback{tag} row {i}" for i in range(4000)]
    lines[3100] = f"boom{tag}"
    path = write_lines(tmp_path / "fails.txt", lines)
    with psycopg.connect(app_dsn(postgres, sentinels), autocommit=True) as conn:
        conn.execute(f"""
            CREATE FUNCTION refuse_{tag}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.content = 'boom{tag}' THEN RAISE EXCEPTION 'forced failure at %', NEW.content; END IF;
                RETURN NEW;
            END $$""")
        conn.execute(f"CREATE TRIGGER refuse_{tag} BEFORE INSERT ON memories FOR EACH ROW EXECUTE FUNCTION refuse_{tag}()")
    try:
        before = memory_count(postgres, sentinels)
        before_defs = index_definitions(postgres, sentinels)
        res = run_import([str(path), "--rebuild-index", "--batch-size", "500"], env)
    finally:
        with psycopg.connect(app_dsn(postgres, sentinels), autocommit=True) as conn:
            conn.execute(f"DROP TRIGGER refuse_{tag} ON memories")
            conn.execute(f"DROP FUNCTION refuse_{tag}()")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "failed and was rolled back, nothing was written" in res.stderr
    assert f"forced failure at boom{tag}" in res.stderr
    no_secret(res, sentinels)
    assert memory_count(postgres, sentinels) == before
    assert index_definitions(postgres, sentinels) == before_defs  # the dropped index is back (the DROP rolled back)


def test_connection_from_the_stack_state_file(tmp_path, postgres, sentinels):
    password = sentinels.db_password
    run_dir = tmp_path / "data" / "run"
    run_dir.mkdir(parents=True)
    # A file as Cartrita.Operations/Stack/stack.schema.json describes it (test_stack_state.py ties the reader to it).
    state = {"SchemaVersion": 1, "AppHostProcessId": os.getpid(), "Environment": "Development",
             "Database": f"Host=127.0.0.1;Port={postgres.port};Username=cartrita_app;Password={password};Database=cartrita",
             "DatabaseAdmin": None, "Redis": "127.0.0.1:1,password=x"}
    (run_dir / "stack.json").write_text(json.dumps(state))
    path = write_lines(tmp_path / "stack.txt", [f"from the stack file {uuid.uuid4().hex}"])
    before = memory_count(postgres, sentinels)

    res = run_import([str(path), "--data-dir", str(tmp_path / "data")], app_env())  # no DATABASE_URL
    assert res.returncode == 0, res.stderr
    assert f"into database cartrita on 127.0.0.1:{postgres.port}" in res.stdout
    no_secret(res, sentinels)
    assert memory_count(postgres, sentinels) == before + 1

    state["AppHostProcessId"] = 2**22 + 12345  # no such process: the AppHost is gone
    (run_dir / "stack.json").write_text(json.dumps(state))
    res = run_import([str(path), "--data-dir", str(tmp_path / "data")], app_env())
    assert res.returncode == 78 and "is stale); start it with `./cartrita up`" in res.stderr

    res = run_import([str(path)], app_env())
    assert res.returncode == 78 and "DATABASE_URL is not set" in res.stderr
    assert memory_count(postgres, sentinels) == before + 1


def test_wrong_password_fails_cleanly(tmp_path, postgres, sentinels):
    wrong = "wrongImportSentinel" + uuid.uuid4().hex
    env = app_env(DATABASE_URL=f"postgresql://cartrita_app:{wrong}@127.0.0.1:{postgres.port}/cartrita")
    res = run_import([str(write_lines(tmp_path / "x.txt", ["a memory"]))], env)
    assert res.returncode == 1
    assert "password authentication failed" in res.stderr and "nothing was written" in res.stderr
    assert wrong not in res.stdout + res.stderr


def test_npgsql_connection_strings():
    assert parse_npgsql("Host=db;Port=5433;Username=robbie;Password=p;Database=cartrita") == {
        "host": "db", "port": "5433", "user": "robbie", "password": "p", "dbname": "cartrita"}
    assert parse_npgsql("Server=h; User ID=u; Password='a;b''c'; Database=\"d\"; SSL Mode=Require; Pooling=false") == {
        "host": "h", "user": "u", "password": "a;b'c", "dbname": "d", "sslmode": "require"}
