"""Memory ingest: the orchestrator's local embedding + insert path, end to end (POST /api/memory batches) and step by
step in-process (importing the orchestrator's own modules), plus the bulk path the issue asks for (batched binary COPY,
HNSW index built after the bulk): the orchestrator's importer, `./cartrita import-memories`."""

from __future__ import annotations

import asyncio
import http.client
import json
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .infra import ORCHESTRATOR_DIR

BATCH = 256  # the API's largest batch (models.MAX_MEMORY_BATCH)

_SYLLABLES = ["ka", "lo", "mi", "ner", "ta", "vo", "shi", "ru", "pel", "den", "sa", "tor", "bi", "qua", "zen", "mo",
              "fi", "lan", "cor", "ix", "ul", "bra", "te", "nos"]
_FILLERS = ["the", "a", "about", "remember", "that", "likes", "prefers", "meeting", "on", "with", "for", "notes",
            "project", "user", "said", "next", "week", "and", "is", "in"]


def texts(n: int, seed: int = 8) -> List[str]:
    """Memory-like sentences of 8-24 words over a 4,000-word generated vocabulary (Zipf-ish), deterministic."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(4000)]
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    out = []
    for i in range(n):
        words = rng.choices(vocab, weights, k=rng.randint(6, 18))
        for _ in range(rng.randint(2, 6)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(_FILLERS))
        out.append(" ".join(words).capitalize() + f". (note {i})")
    return out


def _orchestrator_modules():
    if str(ORCHESTRATOR_DIR) not in sys.path:
        sys.path.insert(0, str(ORCHESTRATOR_DIR))
    from cartrita.orchestrator import embeddings, store  # noqa: E402

    return embeddings, store


# -- end to end -----------------------------------------------------------------------------------------------------

def api_ingest(base_url: str, token: str, items: Sequence[str], clients: int = 2) -> Dict[str, object]:
    """POST /api/memory {items: [256 x {content}]} from ``clients`` keep-alive connections; vectors/s overall."""
    host, port = base_url.split("//", 1)[1].split(":")
    batches = [list(items[i:i + BATCH]) for i in range(0, len(items), BATCH)]
    latencies: List[float] = []
    errors: List[str] = []
    lock = threading.Lock()
    queue = list(range(len(batches)))

    def worker() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        while True:
            with lock:
                if not queue:
                    break
                idx = queue.pop(0)
            body = json.dumps({"items": [{"content": t} for t in batches[idx]]})
            t = time.perf_counter()
            conn.request("POST", "/api/memory", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            with lock:
                latencies.append(time.perf_counter() - t)
                if resp.status != 201:
                    errors.append(f"{resp.status} {data[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    secs = time.perf_counter() - t0
    return {"vectors": len(items), "seconds": round(secs, 2), "vectors_per_s": round(len(items) / secs, 1),
            "batch_p50_ms": round(statistics.median(latencies) * 1000, 1), "errors": len(errors), "first_error": errors[:1]}


# -- step by step -----------------------------------------------------------------------------------------------------

def _rate(n: int, secs: float) -> float:
    return round(n / secs, 1) if secs > 0 else float("inf")


def steps(dsn: str, items: Sequence[str], log=print) -> Dict[str, object]:
    """Time each step of the API's path on the same texts, in this process, with the orchestrator's own code."""
    embeddings, store = _orchestrator_modules()
    import psycopg

    out: Dict[str, object] = {}
    t = time.perf_counter()
    vectors = [embeddings.local_embedding(x) for x in items]
    out["embed_per_s"] = _rate(len(items), time.perf_counter() - t)
    t = time.perf_counter()
    literals = [embeddings.vector_literal(v) for v in vectors]
    out["literal_per_s"] = _rate(len(items), time.perf_counter() - t)

    rows = [(uuid.uuid4(), x, {}, lit) for x, lit in zip(items, literals)]

    async def insert_all(table_sql: Optional[str]) -> float:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            if table_sql:
                await conn.execute(table_sql)
                await conn.commit()
            t0 = time.perf_counter()
            for i in range(0, len(rows), BATCH):
                async with conn.transaction():
                    if table_sql:  # the same statement, into the scratch table
                        await conn.execute(store.INSERT_MEMORIES_SQL.replace("INSERT INTO memories", "INSERT INTO bench_memories_noindex"),
                                           _columns(rows[i:i + BATCH]))
                    else:
                        await store.insert_memories(conn, rows[i:i + BATCH], None)
            return time.perf_counter() - t0

    out["insert_indexed_per_s"] = _rate(len(rows), asyncio.run(insert_all(None)))
    rows = [(uuid.uuid4(), *r[1:]) for r in rows]
    out["insert_noindex_per_s"] = _rate(len(rows), asyncio.run(insert_all(
        "CREATE TABLE IF NOT EXISTS bench_memories_noindex (LIKE memories INCLUDING DEFAULTS, PRIMARY KEY (id))")))
    out["vectors"] = len(items)
    return out


def _columns(items):
    return (None, [i[0] for i in items], [i[1] for i in items], [json.dumps(i[2]) for i in items], [i[3] for i in items])


def bulk_import(database_url: str, items: Sequence[str], work: Path, log=print) -> Dict[str, object]:
    """The bulk path, as users run it: the orchestrator's importer (`./cartrita import-memories`) on a JSON Lines file
    of ``items``, into the real memories table. It embeds locally, loads with binary COPY in 2,048-row batches and,
    the import being larger than the table, rebuilds the HNSW index after the load. Rates: embed + load, and overall
    (validation and the index build included)."""
    from .infra import PYTHON
    from .procs import minimal_env

    work.mkdir(parents=True, exist_ok=True)
    path = work / "bulk-memories.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for text in items:
            f.write(json.dumps({"content": text}) + "\n")
    argv = [PYTHON, "-m", "cartrita.orchestrator.importer", str(path), "--json"]
    t = time.perf_counter()
    res = subprocess.run(argv, cwd=ORCHESTRATOR_DIR, env=minimal_env(DATABASE_URL=database_url), capture_output=True,
                         text=True, timeout=1800)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise RuntimeError(f"the importer failed ({res.returncode}): {res.stderr.strip()[-500:]}")
    summary = json.loads(res.stdout)
    rows = summary["rows"]
    return {"vectors": rows, "existing_rows": summary["existing_rows"],
            "embed_and_load_per_s": summary["vectors_per_s"], "embed_only_per_s": _rate(rows, summary["embed_s"]),
            "load_and_index_per_s": summary["overall_per_s"], "validate_s": round(summary["validate_s"], 2),
            "embed_s": round(summary["embed_s"], 2), "load_s": round(summary["load_s"], 2),
            "index_s": round(summary["index_s"], 2), "index_rows": rows + summary["existing_rows"],
            "rebuilt_indexes": summary["rebuilt_indexes"], "importer_total_s": round(summary["total_s"], 2),
            "command_wall_s": round(wall, 2), "embedder": summary["embedder"]}
