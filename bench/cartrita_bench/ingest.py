"""Memory ingest: the orchestrator's local embedding + insert path, end to end (POST /api/memory batches) and step by
step in-process (importing the orchestrator's own modules), plus the bulk path the issue asks for (batched binary COPY,
HNSW index built after the bulk) to show where 2,000 vectors/s comes from."""

from __future__ import annotations

import asyncio
import http.client
import json
import random
import statistics
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
                        await store.insert_memories(conn, rows[i:i + BATCH])
            return time.perf_counter() - t0

    out["insert_indexed_per_s"] = _rate(len(rows), asyncio.run(insert_all(None)))
    rows = [(uuid.uuid4(), *r[1:]) for r in rows]
    out["insert_noindex_per_s"] = _rate(len(rows), asyncio.run(insert_all(
        "CREATE TABLE IF NOT EXISTS bench_memories_noindex (LIKE memories INCLUDING DEFAULTS, PRIMARY KEY (id))")))
    out["vectors"] = len(items)
    return out


def _columns(items):
    return ([i[0] for i in items], [i[1] for i in items], [json.dumps(i[2]) for i in items], [i[3] for i in items])


def bulk_copy(dsn: str, items: Sequence[str], log=print) -> Dict[str, object]:
    """The bulk path: local embeddings (the orchestrator's sparse form), binary COPY in 2,048-row batches into a table
    without the index, then CREATE INDEX with the schema's HNSW parameters. Rates: embed + load, and embed + load +
    index."""
    embeddings, _store = _orchestrator_modules()
    import numpy as np
    import psycopg

    from .vectors import copy_binary_chunks

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_bulk")
        conn.execute("CREATE TABLE bench_bulk (id integer PRIMARY KEY, embedding vector(1536) NOT NULL)")
        t0 = time.perf_counter()
        embed_s = 0.0
        with conn.cursor() as cur:
            with cur.copy("COPY bench_bulk (id, embedding) FROM STDIN (FORMAT binary)") as cp:
                for i in range(0, len(items), 2048):
                    te = time.perf_counter()
                    part = items[i:i + 2048]
                    vecs = np.zeros((len(part), embeddings.DIMENSIONS), dtype=np.float32)
                    for row, text in enumerate(part):
                        idx, vals = embeddings.local_embedding_sparse(text)
                        vecs[row, idx] = vals
                    embed_s += time.perf_counter() - te
                    for chunk in copy_binary_chunks(vecs, first_id=i, header=i == 0, trailer=i + 2048 >= len(items)):
                        cp.write(chunk)
        load = time.perf_counter() - t0
        conn.execute("SET maintenance_work_mem = '512MB'")
        # vectors are stored out of line (TOAST): without this the planner sees a tiny heap and builds single-threaded
        conn.execute("ALTER TABLE bench_bulk SET (parallel_workers = 2)")
        t1 = time.perf_counter()
        conn.execute("CREATE INDEX ON bench_bulk USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)")
        index = time.perf_counter() - t1
        conn.execute("DROP TABLE bench_bulk")
    return {"vectors": len(items), "embed_and_load_per_s": _rate(len(items), load), "embed_only_per_s": _rate(len(items), embed_s),
            "load_and_index_per_s": _rate(len(items), load + index), "load_s": round(load, 2), "index_s": round(index, 2)}
