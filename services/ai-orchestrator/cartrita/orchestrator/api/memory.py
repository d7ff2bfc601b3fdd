"""POST /api/memory (one item or a batch), GET /api/memory, DELETE /api/memory/{id}, POST /api/memory/search.

Each caller works in its own space: a user's memories, or the service's for
the API key; another owner's memory answers 404, exactly as a missing one."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from .. import store
from ..chat import iso
from ..embeddings import vector_literal
from ..errors import NotFound
from ..models import MemoryCreate, MemorySearch
from ..security import owner_of
from . import Page

router = APIRouter(tags=["memory"])


@router.post("/api/memory", status_code=201, summary="Store memories: {content, metadata?} or {items: [...]}")
async def create_memories(request: Request, req: MemoryCreate) -> JSONResponse:
    state = request.app.state
    owner = owner_of(request)
    items = req.all_items()
    try:
        vectors = await state.embeddings.embed_many([i.content for i in items])
    except BaseException:
        state.metrics.memory_operations.labels("insert", "error").inc()
        raise
    rows = [(store.new_id(), i.content, i.metadata or {}, vector_literal(v)) for i, v in zip(items, vectors)]
    try:
        await state.db.run(lambda conn: store.insert_memories(conn, rows, owner))
    except BaseException:
        state.metrics.memory_operations.labels("insert", "error").inc()
        raise
    state.metrics.memory_operations.labels("insert", "ok").inc()
    state.metrics.memory_items.inc(len(rows))
    return JSONResponse(status_code=201, content={"ids": [str(r[0]) for r in rows], "count": len(rows)})


@router.post("/api/memory/search", summary="Nearest memories by cosine distance (HNSW index)")
async def search_memories(request: Request, req: MemorySearch) -> dict:
    state = request.app.state
    owner = owner_of(request)
    try:
        vec = vector_literal(await state.embeddings.embed_query(req.query))
        k = req.k
        rows = await state.db.run(
            lambda conn: store.search_memories(conn, vec, k, state.settings.memory_ef_search_for(k), owner)
        )
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


@router.get("/api/memory", summary="The caller's memories, newest first")
async def list_memories(request: Request, page: Page = Depends()) -> dict:
    owner = owner_of(request)
    rows = await request.app.state.db.run(lambda conn: store.list_memories(conn, owner, page.limit, page.offset))
    return {
        "memories": [
            {"id": str(r["id"]), "content": r["content"], "metadata": r["metadata"], "created_at": iso(r["created_at"])}
            for r in rows
        ]
    }


@router.delete("/api/memory/{memory_id}", status_code=204, summary="Delete one of the caller's memories")
async def delete_memory(request: Request, memory_id: UUID) -> Response:
    owner = owner_of(request)
    if not await request.app.state.db.run(lambda conn: store.delete_memory(conn, memory_id, owner)):
        raise NotFound(f"memory {memory_id} not found")
    return Response(status_code=204)
