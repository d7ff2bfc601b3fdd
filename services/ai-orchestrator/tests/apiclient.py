"""Small client-side helpers for the API tests: SSE parsing, WebSocket sessions."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import httpx
import websocket  # websocket-client (python3-websocket)


def parse_sse(text: str) -> List[Dict[str, Any]]:
    """``[{"event", "data" (decoded JSON), "id"}]`` from an event-stream body."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        event: Dict[str, Any] = {"event": "message", "data": None, "id": None}
        data_lines = []
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event["event"] = value
            elif name == "data":
                data_lines.append(value)
            elif name == "id":
                event["id"] = value
        event["data"] = json.loads("\n".join(data_lines)) if data_lines else None
        events.append(event)
    return events


def stream_chat(client: httpx.Client, params: Dict[str, str], headers: Optional[Dict[str, str]] = None,
                timeout: float = 15.0) -> Tuple[httpx.Response, List[Dict[str, Any]]]:
    with client.stream("GET", "/api/chat/stream", params=params, headers=headers or {}, timeout=timeout) as r:
        body = r.read().decode()
    return r, (parse_sse(body) if r.headers.get("content-type", "").startswith("text/event-stream") else [])


Frame = Union[str, bytes, Dict[str, Any]]


def ws_connect(url: str, headers: Optional[Dict[str, str]] = None, timeout: float = 15.0) -> websocket.WebSocket:
    headers = dict(headers or {})
    origin = headers.pop("Origin", None)
    # websocket-client sends the server's own address as Origin unless told: send none (a non-browser client) or
    # the one given (a browser page's)
    return websocket.create_connection(
        url, timeout=timeout, header=[f"{k}: {v}" for k, v in headers.items()],
        origin=origin, suppress_origin=origin is None,
    )


def ws_send(ws: websocket.WebSocket, frame: Frame) -> None:
    if isinstance(frame, dict):
        ws.send(json.dumps(frame))
    elif isinstance(frame, bytes):
        ws.send_binary(frame)
    else:
        ws.send(frame)


def ws_until(ws: websocket.WebSocket, until: str = "done") -> List[Dict[str, Any]]:
    """Server frames up to and including one of type ``until`` (or an error)."""
    got: List[Dict[str, Any]] = []
    while True:
        msg = json.loads(ws.recv())
        got.append(msg)
        if msg["type"] in (until, "error"):
            return got


def ws_exchange(url: str, script: Sequence[Tuple[Frame, str]], headers=None, timeout: float = 15.0):
    """Send each frame on one connection and collect the answers to each."""
    ws = ws_connect(url, headers, timeout)
    try:
        out = []
        for frame, until in script:
            ws_send(ws, frame)
            out.append(ws_until(ws, until))
        return out
    finally:
        ws.close()


def ws_first_frame(url: str, headers=None, timeout: float = 10.0):
    """The first frame and the close code of a socket the server closes."""
    ws = ws_connect(url, headers, timeout)
    try:
        first = json.loads(ws.recv())
        opcode, data = ws.recv_data(control_frame=True)
        code = int.from_bytes(data[:2], "big") if opcode == websocket.ABNF.OPCODE_CLOSE and len(data) >= 2 else None
        return first, code
    finally:
        ws.close()


def ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path
