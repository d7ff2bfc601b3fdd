"""GET /api/agents: the agents chat can be routed to."""

from __future__ import annotations

from fastapi import APIRouter, Request

router = APIRouter(tags=["agents"])


@router.get("/api/agents", summary="Agents (general, research, code, ...) from the agents table")
async def list_agents(request: Request) -> dict:
    return {"agents": await request.app.state.agents.all()}
