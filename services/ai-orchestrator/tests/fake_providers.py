"""A loopback HTTP server that speaks the providers' wire formats.

It stands in for api.openai.com, api.anthropic.com and api.deepgram.com so
the service's real HTTP clients can be exercised (the service reaches it via
OPENAI_BASE_URL / ANTHROPIC_BASE_URL / DEEPGRAM_BASE_URL):

* ``POST /v1/chat/completions``  OpenAI chat, plain JSON or ``stream: true`` SSE
  (``data: {chunk}`` lines ending with ``data: [DONE]``)
* ``POST /v1/embeddings``        OpenAI embeddings (1536 floats per input)
* ``POST /v1/messages``          Anthropic Messages, plain or SSE
  (message_start, content_block_start, content_block_delta..., message_stop)
* ``POST /v1/listen``            Deepgram pre-recorded transcription

Every request is recorded (path, headers, body). ``fail(path, *statuses)``
makes the next requests to ``path`` answer those statuses first (with
OpenAI/Anthropic-style error bodies and ``Retry-After: 0`` on 429).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Deque, Dict, List
from urllib.parse import parse_qs, urlsplit

OPENAI_REPLY = ["Hello", " from", " the", " fake", " OpenAI", "."]
ANTHROPIC_REPLY = ["Greetings", " from", " the", " fake", " Anthropic", "."]
TRANSCRIPT = "hello from the fake deepgram"
DIMS = 1536


def fake_embedding(text: str) -> List[float]:
    """Independent of the service's own embedder: one bucket per word, normalised."""
    vec = [0.0] * DIMS
    for word in re.findall(r"\w+", text.lower()):
        h = int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "big")
        vec[h % DIMS] += 1.0
    norm = math.sqrt(sum(x * x for x in vec)) or 1.0
    if norm == 1.0 and not any(vec):
        vec[0] = 1.0
    return [x / norm for x in vec]


@dataclass
class Recorded:
    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class FakeProviders:
    def __init__(self) -> None:
        self.requests: List[Recorded] = []
        self._failures: Dict[str, Deque[int]] = defaultdict(deque)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                fake._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-providers", daemon=True)

    # -- control ----------------------------------------------------------------

    def start(self) -> "FakeProviders":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def fail(self, path: str, *statuses: int) -> None:
        with self._lock:
            self._failures[path].extend(statuses)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._failures.clear()

    def calls(self, path: str) -> List[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # -- serving ----------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("content-length") or 0)
        body = h.rfile.read(length) if length else b""
        rec = Recorded("POST", parts.path, parse_qs(parts.query), {k.lower(): v for k, v in h.headers.items()}, body)
        with self._lock:
            self.requests.append(rec)
            queue = self._failures.get(parts.path)
            status = queue.popleft() if queue else None
        if status is not None:
            err = {"error": {"type": "fake_error", "message": f"injected HTTP {status}"}}
            headers = {"retry-after": "0"} if status == 429 else {}
            return self._json(h, status, err, headers)
        try:
            if parts.path == "/v1/chat/completions":
                return self._openai_chat(h, rec)
            if parts.path == "/v1/embeddings":
                return self._openai_embeddings(h, rec)
            if parts.path == "/v1/messages":
                return self._anthropic(h, rec)
            if parts.path == "/v1/listen":
                return self._deepgram(h, rec)
        except (BrokenPipeError, ConnectionResetError):
            return
        self._json(h, 404, {"error": {"message": "no such fake endpoint"}})

    @staticmethod
    def _json(h, status: int, data, headers=None) -> None:
        raw = json.dumps(data).encode()
        h.send_response(status)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(raw)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(raw)

    @staticmethod
    def _sse_start(h) -> None:
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.send_header("cache-control", "no-cache")
        h.send_header("connection", "close")
        h.end_headers()
        h.close_connection = True

    @staticmethod
    def _sse_write(h, data: str, event: str = None) -> None:
        chunk = (f"event: {event}\n" if event else "") + f"data: {data}\n\n"
        h.wfile.write(chunk.encode())
        h.wfile.flush()

    def _openai_chat(self, h, rec: Recorded) -> None:
        req = rec.json()
        model = req.get("model", "gpt-fake")
        if not req.get("stream"):
            return self._json(h, 200, {
                "id": "chatcmpl-fake", "object": "chat.completion", "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "".join(OPENAI_REPLY)}}],
                "usage": {"prompt_tokens": 11, "completion_tokens": len(OPENAI_REPLY), "total_tokens": 11 + len(OPENAI_REPLY)},
            })
        self._sse_start(h)
        first = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        self._sse_write(h, json.dumps(first))
        for piece in OPENAI_REPLY:
            chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            self._sse_write(h, json.dumps(chunk))
        last = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        self._sse_write(h, json.dumps(last))
        self._sse_write(h, "[DONE]")

    def _openai_embeddings(self, h, rec: Recorded) -> None:
        req = rec.json()
        inputs = req["input"] if isinstance(req["input"], list) else [req["input"]]
        data = [{"object": "embedding", "index": i, "embedding": fake_embedding(t)} for i, t in enumerate(inputs)]
        self._json(h, 200, {"object": "list", "data": data, "model": req.get("model"),
                            "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    def _anthropic(self, h, rec: Recorded) -> None:
        req = rec.json()
        model = req.get("model", "claude-fake")
        if not req.get("stream"):
            return self._json(h, 200, {
                "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": "".join(ANTHROPIC_REPLY)}],
                "stop_reason": "end_turn", "usage": {"input_tokens": 9, "output_tokens": len(ANTHROPIC_REPLY)},
            })
        self._sse_start(h)
        events = [
            ("message_start", {"type": "message_start", "message": {
                "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [],
                "usage": {"input_tokens": 9, "output_tokens": 1}}}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            ("ping", {"type": "ping"}),
        ]
        events += [
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": piece}})
            for piece in ANTHROPIC_REPLY
        ]
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                               "usage": {"output_tokens": len(ANTHROPIC_REPLY)}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        for name, data in events:
            self._sse_write(h, json.dumps(data), event=name)

    def _deepgram(self, h, rec: Recorded) -> None:
        self._json(h, 200, {
            "metadata": {"request_id": "fake", "duration": 1.0, "channels": 1},
            "results": {"channels": [{"alternatives": [
                {"transcript": TRANSCRIPT, "confidence": 0.99, "words": []}]}]},
        })
