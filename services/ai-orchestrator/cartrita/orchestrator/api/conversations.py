"""GET /api/conversations, GET and DELETE /api/conversations/{id}: the caller's own history from PostgreSQL.

Another owner's conversation answers 404, exactly as a missing one."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response

from .. import store
from ..chat import iso
from ..errors import NotFound
from ..security import owner_of
from . import Page

router = APIRouter(tags=["conversations"])


@router.get("/api/conversations", summary="Conversations, most recently active first")
async def list_conversations(request: Request, page: Page = Depends()) -> dict:
    owner = owner_of(request)
    rows = await request.app.state.db.run(lambda conn: store.list_conversations(conn, owner, page.limit, page.offset))
    return {
        "conversations": [
            {
                "id": str(r["id"]),
                "title": r["title"],
                "agent": r["agent"],
                "created_at": iso(r["created_at"]),
                "updated_at": iso(r["updated_at"]),
                "message_count": r["message_count"],
            }
            for r in rows
        ]
    }


@router.get("/api/conversations/{conversation_id}", summary="One conversation with its messages")
async def get_conversation(request: Request, conversation_id: UUID) -> dict:
    owner = owner_of(request)

    async def load(conn):
        conv = await store.get_conversation(conn, conversation_id, owner)
        if conv is None:
            return None, []
        return conv, await store.conversation_messages(conn, conversation_id, owner)

    conv, messages = await request.app.state.db.run(load)
    if conv is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return {
        "id": str(conv["id"]),
        "title": conv["title"],
        "agent": conv["agent"],
        "created_at": iso(conv["created_at"]),
        "updated_at": iso(conv["updated_at"]),
        "messages": [
            {
                "id": str(m["id"]),
                "role": m["role"],
                "content": m["content"],
                "agent": m["agent"],
                "provider": m["provider"],
                "created_at": iso(m["created_at"]),
            }
            for m in messages
        ],
    }


@router.delete("/api/conversations/{conversation_id}", status_code=204,
               summary="Delete one of the caller's conversations with its messages")
async def delete_conversation(request: Request, conversation_id: UUID) -> Response:
    owner = owner_of(request)
    if not await request.app.state.db.run(lambda conn: store.delete_conversation(conn, conversation_id, owner)):
        raise NotFound(f"conversation {conversation_id} not found")
    return Response(status_code=204)
