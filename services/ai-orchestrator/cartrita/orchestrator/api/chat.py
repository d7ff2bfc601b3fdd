"""Chat: POST /api/chat, GET /api/chat/stream (SSE) and WS /ws/chat.

SSE (``text/event-stream``)::

    id: <user message id>
    event: meta
    data: {"conversation_id": "...", "agent": "general", "provider": "local"}

    event: token
    data: {"token": "Hello "}
    ...
    event: done
    data: {"conversation_id": "...", "message_id": "...", "reply": "..."}

or ``event: error`` with ``{"error", "detail"}`` when the reply fails after
the stream started. Problems found before the stream starts (bad input,
unknown conversation, Redis or the database down) are ordinary JSON answers
with their status (422, 404, 503), which an EventSource reports as an error
without reconnecting. The ``id`` on ``meta`` makes a reconnecting
EventSource send ``Last-Event-ID``; such a request is answered 204 (which
stops EventSource for good) instead of sending the message a second time.

WebSocket: the client sends ``{"message", "conversation_id"?, "agent"?}``
frames (any number, one after another); the server answers each with
``{"type": "meta"|"token"|"done"|"error", ...}`` frames carrying the same
fields as the SSE events. A bad frame gets an error frame and the socket
stays usable.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator, Dict, Optional

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ..chat import ChatService, Turn, dumps, reply_payload
from ..errors import ApiError, dependency_error
from ..models import ChatRequest, parse_json, parse_model
from ..providers import Usage
from ..security import owner_of

log = logging.getLogger("cartrita.orchestrator.api.chat")

router = APIRouter(tags=["chat"])


def _principal(conn) -> str:
    principal = getattr(conn.state, "principal", None)
    return principal.subject if principal is not None else "anonymous"


@router.post("/api/chat", summary="One chat turn; stores both messages")
async def chat(request: Request, req: ChatRequest) -> JSONResponse:
    service: ChatService = request.app.state.chat
    turn = await service.begin(req, _principal(request), "rest", owner_of(request))
    reply = await service.reply(turn)
    return JSONResponse(reply_payload(turn, reply))


# -- SSE ---------------------------------------------------------------------------


def sse(event: str, data: Dict[str, Any], event_id: Optional[str] = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {dumps(data)}\n\n"


def error_payload(exc: BaseException, retry_after: int) -> Dict[str, Any]:
    if isinstance(exc, ApiError):
        return exc.body()
    unavailable = dependency_error(exc, retry_after)
    if unavailable is not None:
        return unavailable.body()
    return {"error": "internal_error", "detail": "an unexpected error occurred"}


async def run_turn(service: ChatService, turn: Turn) -> AsyncIterator[Dict[str, Any]]:
    """meta, token..., done (or error) as dicts with a "type"."""
    yield {"type": "meta", "conversation_id": str(turn.conversation_id), "agent": turn.agent,
           "provider": turn.provider}
    usage = Usage()
    pieces = []
    try:
        async for piece in service.stream(turn, usage):
            pieces.append(piece)
            yield {"type": "token", "token": piece}
        reply = await service.finish(turn, "".join(pieces), usage)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        service.count_error(turn)
        payload = error_payload(exc, service.settings.retry_after_seconds)
        if payload["error"] == "internal_error":
            log.exception("chat stream failed")
        else:
            log.warning("chat stream failed: %s", payload["detail"])
        yield {"type": "error", **payload}
        return
    done = reply_payload(turn, reply)
    yield {"type": "done", "conversation_id": done["conversation_id"], "message_id": done["message_id"],
           "reply": done["reply"]}


@router.get("/api/chat/stream", summary="One chat turn streamed as Server-Sent Events")
async def chat_stream(
    request: Request,
    message: str = Query(..., description="the user message"),
    conversation_id: Optional[str] = Query(None),
    agent: Optional[str] = Query(None),
) -> Response:
    if request.headers.get("last-event-id"):
        # an EventSource reconnecting after the stream ended: do not resend the message
        return Response(status_code=204)
    service: ChatService = request.app.state.chat
    data: Dict[str, Any] = {"message": message}
    if conversation_id:
        data["conversation_id"] = conversation_id
    if agent:
        data["agent"] = agent
    req = parse_model(ChatRequest, data, location="query")
    turn = await service.begin(req, _principal(request), "sse", owner_of(request))

    async def events() -> AsyncIterator[str]:
        async for frame in run_turn(service, turn):
            kind = frame.pop("type")
            yield sse(kind, frame, str(turn.user_message_id) if kind == "meta" else None)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"},
    )


# -- WebSocket ---------------------------------------------------------------------


async def _send(websocket: WebSocket, frame: Dict[str, Any]) -> None:
    await websocket.send_text(dumps(frame))


def _parse_frame(message: Dict[str, Any]) -> ChatRequest:
    text = message.get("text")
    if text is None:
        raise ApiError("send text frames with JSON {\"message\": ...}, not binary", error="bad_request")
    data = parse_json(text, "the frame")
    if not isinstance(data, dict):
        raise ApiError("the frame must be a JSON object {\"message\": ...}", status_code=422,
                       error="validation_error")
    return parse_model(ChatRequest, data)


@router.websocket("/ws/chat")
async def chat_socket(websocket: WebSocket) -> None:
    state = websocket.app.state
    service: ChatService = state.chat
    principal = _principal(websocket)
    await websocket.accept()
    state.metrics.websockets.inc()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                req = _parse_frame(message)
                decision = await state.limiter.hit(principal)
                if not decision.allowed:
                    await _send(websocket, {
                        "type": "error", "error": "rate_limited",
                        "detail": f"too many requests; retry in {decision.retry_after} s",
                        "retry_after": decision.retry_after,
                    })
                    continue
                turn = await service.begin(req, principal, "ws", owner_of(websocket))
            except Exception as exc:
                payload = error_payload(exc, service.settings.retry_after_seconds)
                if payload["error"] == "internal_error":
                    log.exception("websocket chat failed")
                await _send(websocket, {"type": "error", **payload})
                continue
            async for frame in run_turn(service, turn):
                await _send(websocket, frame)
    except WebSocketDisconnect:
        return
    finally:
        state.metrics.websockets.dec()
        if websocket.client_state == WebSocketState.CONNECTED:
            try:
                await websocket.close()
            except Exception:
                pass

