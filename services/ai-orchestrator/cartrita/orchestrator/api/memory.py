"""POST /api/memory (one item or a batch) and POST /api/memory/search."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .. import store
from ..chat import iso
from ..embeddings import vector_literal
from ..models import MemoryCreate, MemorySearch

router = APIRouter(tags=["memory"])


@router.post("/api/memory", status_code=201, summary="Store memories: {content, metadata?} or {items: [...]}")
async def create_memories(request: Request, req: MemoryCreate) -> JSONResponse:
    state = request.app.state
    items = req.all_items()
    try:
        vectors = await state.embeddings.embed_many([i.content for i in items])
    except BaseException:
        state.metrics.memory_operations.labels("insert", "error").inc()
        raise
    rows = [(store.new_id(), i.content, i.metadata or {}, vector_literal(v)) for i, v in zip(items, vectors)]
    try:
        await state.db.run(lambda conn: store.insert_memories(conn, rows))
    except BaseException:
        state.metrics.memory_operations.labels("insert", "error").inc()
        raise
    state.metrics.memory_operations.labels("insert", "ok").inc()
    state.metrics.memory_items.inc(len(rows))
    return JSONResponse(status_code=201, content={"ids": [str(r[0]) for r in rows], "count": len(rows)})


@router.post("/api/memory/search", summary="Nearest memories by cosine distance (HNSW index)")
async def search_memories(request: Request, req: MemorySearch) -> dict:
    state = request.app.state
    try:
        vec = vector_literal(await state.embeddings.embed_query(req.query))
        k = req.k
        rows = await state.db.run(lambda conn: store.search_memories(conn, vec, k, state.settings.memory_ef_search_for(k)))
    except BaseException:
        state.metrics.memory_operations.labels("search", "error").inc()
        raise
    state.metrics.memory_operations.labels("search", "ok").inc()
    return {
        "results": [
            {
                "id": str(r["id"]),
                "content": r["content"],
                "metadata": r["metadata"],
                "score": round(1.0 - float(r["distance"]), 6),
                "distance": round(float(r["distance"]), 6),
                "created_at": iso(r["created_at"]),
            }
            for r in rows
        ]
    }
