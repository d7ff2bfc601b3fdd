"""Issue 17, orchestrator hardening: each test replays an attack on the real service.

The apps here run the image's own command line (the Dockerfile's CMD, on loopback), so the uvicorn flags the
deployment depends on (no proxy headers, the guarded WebSocket implementation, no compression) are under test too.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import struct
import threading
import time
from typing import Dict, List, Optional, Tuple

import httpx
import jwt
import pytest
import redis

from apiclient import ws_exchange, ws_first_frame, ws_url
from support import PYTHON, AppProcess, wait_until
from local_servers import orchestrator_argv  # noqa: E402 - on the path support.py sets

MB = 1024 * 1024
TOKEN_PATH = "/api/auth/token"
FRONTEND = "http://localhost:3000"  # a development default origin
LIMIT = 4  # token-endpoint requests per window on the rate-limit apps
#: the rate-limit apps count in a Redis database of their own, emptied first: other modules' apps share the server
RL_REDIS_DB = 7


def image_argv(port: int) -> List[str]:
    """The Dockerfile's CMD, with this interpreter, on loopback and ``port``."""
    return orchestrator_argv(PYTHON, port)


def start_app(env: Dict[str, str], workdir, name: str) -> AppProcess:
    proc = AppProcess(env, workdir, name=name, argv=image_argv)
    proc.start()
    return proc


@pytest.fixture(scope="module")
def metrics_token() -> str:
    return "metricsSentinel" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def hard_app(service_env, workdir, postgres, redis_server, metrics_token):
    """A development app as the image starts it; CORS_ALLOW_ORIGINS unset (the development default)."""
    proc = start_app(dict(service_env, METRICS_TOKEN=metrics_token), workdir, "app-hardened")
    try:
        yield proc
    finally:
        proc.stop()


def vm_kb(pid: int, field: str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


# -- a WebSocket client that speaks the protocol by hand ---------------------------------------------------------


def upgrade(base_url: str, path: str, headers: Optional[Dict[str, str]] = None,
            timeout: float = 10.0) -> Tuple[socket.socket, bytes]:
    """A connection to the app and the WebSocket upgrade request for ``path`` (not sent yet)."""
    host, port = base_url.split("://", 1)[1].split(":")
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return (socket.create_connection((host, int(port)), timeout=timeout),
            ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def frame_header(opcode: int, length: int, fin: bool = True) -> bytes:
    """A client frame's header, masked with a zero key, so the payload goes on the wire as it is."""
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        head = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, length)
    return head + b"\0\0\0\0"


class RawSocket:
    """Sends frames of any size (client libraries buffer a whole message) while the test reads the answers."""

    def __init__(self, base_url: str, path: str, headers: Optional[Dict[str, str]] = None, timeout: float = 10.0):
        self.sock, request = upgrade(base_url, path, headers, timeout)
        self.sock.sendall(request)
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *fields = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buffer += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def send_header(self, opcode: int, length: int, fin: bool = True) -> None:
        self.sock.sendall(frame_header(opcode, length, fin))

    def send_text(self, text: str) -> None:
        data = text.encode("utf-8")
        self.send_header(0x1, len(data))
        self.sock.sendall(data)

    def recv_frame(self) -> Tuple[int, bytes]:
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._take(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._take(8))[0]
        return first & 0x0F, self._take(length)

    def close_code(self) -> Tuple[Optional[int], List[dict]]:
        """Reads up to the server's close frame: its code and the text frames before it."""
        texts = []
        while True:
            opcode, payload = self.recv_frame()
            if opcode == 0x8:
                return (struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None), texts
            if opcode == 0x1:
                texts.append(json.loads(payload))

    def pump(self, size: int, chunk: int = 64 * 1024) -> List[int]:
        """Sends ``size`` payload bytes ("a") from a thread until done or the server stops taking them; the list
        holds the count sent so far."""
        sent = [0]
        block = b"a" * chunk

        def run() -> None:
            try:
                while sent[0] < size:
                    sent[0] += self.sock.send(block[: min(chunk, size - sent[0])])
            except OSError:
                pass  # the server closed the connection, or stopped reading until the timeout

        threading.Thread(target=run, daemon=True).start()
        return sent

    def close(self) -> None:
        self.sock.close()


# -- item 4: one huge WebSocket message -----------------------------------------------------------------------


def _growth_during(pid: int, attack) -> int:
    """How far the process's memory grew (bytes) while ``attack()`` ran: the highest VmRSS seen against the one
    before, or VmHWM (the kernel's peak) against its earlier value, whichever is more."""
    rss_before, hwm_before = vm_kb(pid, "VmRSS"), vm_kb(pid, "VmHWM")
    peak = [rss_before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], vm_kb(pid, "VmRSS"))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        attack()
    finally:
        done.set()
        sampler.join()
    hwm_after = vm_kb(pid, "VmHWM")
    print(f"RSS before {rss_before} kB, peak {peak[0]} kB; VmHWM {hwm_before} -> {hwm_after} kB")
    return max(peak[0] - rss_before, hwm_after - hwm_before) * 1024


@pytest.mark.parametrize("fragmented", [False, True], ids=["one-frame", "fragments"])
def test_oversized_websocket_message_is_closed_1009_without_being_buffered(hard_app, key_headers, fragmented):
    size = 16 * MB
    result: Dict[str, object] = {}
    # warm up: what the first chat over a socket allocates is not the attack's
    ws_exchange(ws_url(hard_app.base_url, "/ws/chat"), [({"message": "warm up"}, "done")], headers=key_headers)

    def attack() -> None:
        ws = RawSocket(hard_app.base_url, "/ws/chat", key_headers)
        assert ws.status == 101
        try:
            if fragmented:  # 64 KiB frames of one message: the limit is on the message, not the frame
                ws.send_header(0x1, 0, fin=False)
                sent = [0]

                def fragments() -> None:
                    try:
                        while sent[0] < size:
                            ws.send_header(0x0, 65536, fin=False)
                            ws.sock.sendall(b"a" * 65536)
                            sent[0] += 65536
                    except OSError:
                        pass

                threading.Thread(target=fragments, daemon=True).start()
            else:
                ws.send_header(0x1, size)
                sent = ws.pump(size)
            result["code"], result["texts"] = ws.close_code()
            result["sent"] = sent[0]
        finally:
            ws.close()

    growth = _growth_during(hard_app.proc.pid, attack)
    assert result["code"] == 1009 and result["texts"] == [], result
    assert growth < 4 * MB, f"the server grew by {growth // 1024} kB for a {size // MB} MiB message"

    # the server still answers, on a new socket too
    assert httpx.get(f"{hard_app.base_url}/health", timeout=5.0).status_code == 200
    out = ws_exchange(ws_url(hard_app.base_url, "/ws/chat"), [({"message": "still here?"}, "done")],
                      headers=key_headers)
    assert out[0][-1]["type"] == "done"


@pytest.fixture(scope="module")
def slow_accept_app(service_env, workdir, postgres):
    """An app whose Redis never answers: the guard's rate-limit check waits its timeout (1 s) before the accept."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)  # connections complete in the backlog; nothing is ever read or answered
    proc = start_app(dict(service_env, REDIS_URL=f"redis://:x@127.0.0.1:{hole.getsockname()[1]}/0"), workdir,
                     "app-slow-accept")
    try:
        yield proc
    finally:
        proc.stop()
        hole.close()


def test_websocket_data_sent_before_the_accept_is_bounded_too(slow_accept_app, key_headers):
    size = 64 * MB
    result: Dict[str, object] = {}

    def attack() -> None:
        sock, request = upgrade(slow_accept_app.base_url, "/ws/chat", key_headers)
        try:
            sock.sendall(request + frame_header(0x1, size))  # the frame right behind the request, before the 101
            sent, block = 0, b"a" * 65536
            try:
                while sent < size:
                    sent += sock.send(block)
            except OSError:
                pass  # dropped by the server
            result["sent"] = sent
        finally:
            sock.close()

    growth = _growth_during(slow_accept_app.proc.pid, attack)
    assert result["sent"] < size and growth < 4 * MB, (result, growth)


def test_websocket_message_limit_is_one_mib(hard_app, key_headers):
    ws = RawSocket(hard_app.base_url, "/ws/chat", key_headers)
    try:
        at_limit = json.dumps({"message": "é" * ((MB - 20) // 2)}, ensure_ascii=False)  # UTF-8 bytes count
        assert MB - 20 < len(at_limit.encode()) <= MB
        ws.send_text(at_limit)
        opcode, payload = ws.recv_frame()
        assert opcode == 0x1 and json.loads(payload)["error"] == "validation_error"  # too long for a chat message
        ws.send_text(at_limit + " " * (MB + 1 - len(at_limit.encode())))
        assert ws.close_code() == (1009, [])
    finally:
        ws.close()


def test_websocket_compression_is_not_negotiated(hard_app, key_headers):
    # wsproto inflates a compressed frame whole before any size check: a small frame could become hundreds of MB
    ws = RawSocket(hard_app.base_url, "/ws/chat",
                   dict(key_headers, **{"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}))
    try:
        assert ws.status == 101
        assert "sec-websocket-extensions" not in ws.headers, ws.headers
    finally:
        ws.close()


# -- item 6: input that made the JSON decoder fail ----------------------------------------------------------------


def test_deeply_nested_or_non_unicode_token_requests_are_4xx(hard_app):
    json_headers = {"content-type": "application/json"}
    with httpx.Client(base_url=hard_app.base_url, timeout=10.0) as c:
        for body in (b"[" * 200_000, b'{"api_key": ' + b"[" * 200_000, b"{\"a\": " * 100_000):
            r = c.post(TOKEN_PATH, content=body, headers=json_headers)
            assert r.status_code == 400 and r.json()["error"] == "invalid_json", (r.status_code, r.text)
            assert "nested" in r.json()["detail"]
        r = c.post(TOKEN_PATH, content=b'{"api_key": "\\ud800"}', headers=json_headers)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", (r.status_code, r.text)
        r = c.post(TOKEN_PATH, content=b'{"api_key": "\\udc80abc"}', headers=json_headers)
        assert r.status_code == 401, (r.status_code, r.text)


@pytest.mark.parametrize("path", ["/api/chat", "/api/memory", "/api/memory/search"])
def test_deeply_nested_rest_bodies_are_invalid_json(hard_app, key_headers, path):
    r = httpx.post(f"{hard_app.base_url}{path}", content=b"[" * 200_000, timeout=10.0,
                   headers=dict(key_headers, **{"content-type": "application/json"}))
    assert r.status_code == 400 and r.json()["error"] == "invalid_json", (r.status_code, r.text)
    assert "nested" in r.json()["detail"]


def test_deeply_nested_websocket_frame_is_invalid_json_and_the_socket_stays(hard_app, key_headers):
    ws = RawSocket(hard_app.base_url, "/ws/chat", key_headers)
    try:
        for frame in ("[" * 200_000, '{"message": ' + "[" * 200_000):
            ws.send_text(frame)
            opcode, payload = ws.recv_frame()
            body = json.loads(payload)
            assert opcode == 0x1 and body["type"] == "error" and body["error"] == "invalid_json", body
        ws.send_text(json.dumps({"message": "after the garbage"}))
        frames = []
        while not frames or frames[-1]["type"] not in ("done", "error"):
            frames.append(json.loads(ws.recv_frame()[1]))
        assert frames[-1]["type"] == "done"
    finally:
        ws.close()
    metrics = httpx.get(f"{hard_app.base_url}/metrics", headers=key_headers, timeout=5.0).text
    assert 'status="500"' not in metrics


# -- item 5: the client address behind (or pretending to be behind) a proxy -------------------------------------


@pytest.fixture(scope="module")
def rl_env(service_env, redis_server, sentinels) -> Dict[str, str]:
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, password=sentinels.redis_password, db=RL_REDIS_DB)
    try:
        client.flushdb()
    finally:
        client.close()
    return dict(service_env, RATE_LIMIT_REQUESTS=str(LIMIT), RATE_LIMIT_WINDOW_SECONDS="60",
                REDIS_URL=f"redis://:{sentinels.redis_password}@127.0.0.1:{redis_server.port}/{RL_REDIS_DB}")


@pytest.fixture(scope="module")
def no_proxy_app(rl_env, workdir, postgres):
    proc = start_app(rl_env, workdir, "app-no-proxy")  # TRUSTED_PROXIES unset
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def proxied_app(rl_env, workdir, postgres):
    # a proxy on loopback behind an internal load balancer (10.0.0.0/8)
    proc = start_app(dict(rl_env, TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8"), workdir, "app-proxied")
    try:
        yield proc
    finally:
        proc.stop()


def _token_statuses(app: AppProcess, forwarded: List[str]) -> List[int]:
    with httpx.Client(base_url=app.base_url, timeout=10.0) as c:
        return [c.post(TOKEN_PATH, headers={"X-API-Key": "wrong", "X-Forwarded-For": f}).status_code
                for f in forwarded]


def test_rotating_x_forwarded_for_does_not_escape_the_token_limit(no_proxy_app):
    # a window boundary may reset the count once: 2 * LIMIT + 2 requests must still see a 429
    statuses = _token_statuses(no_proxy_app, [f"203.0.113.{i}" for i in range(2 * LIMIT + 2)])
    assert set(statuses) <= {401, 429} and 429 in statuses, statuses


def test_forwarded_clients_of_a_trusted_proxy_get_their_own_buckets(proxied_app):
    # client -> load balancer 10.1.2.3 -> proxy on 127.0.0.1 -> orchestrator
    first = _token_statuses(proxied_app, ["198.51.100.7, 10.1.2.3"] * (2 * LIMIT + 2))
    assert 429 in first, first
    # the same client cannot escape by prepending addresses of its own (the proxies append the real one)
    spoofed = _token_statuses(proxied_app, [f"192.0.2.{i}, 198.51.100.7, 10.1.2.3" for i in range(3)])
    assert spoofed == [429] * 3, spoofed
    # another client behind the same proxies is not limited by the first one
    assert _token_statuses(proxied_app, ["198.51.100.8, 10.1.2.3"]) == [401]


PROXY_TOKEN = "proxyTokenSentinel-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def token_proxy_app(rl_env, workdir, postgres):
    """Compose/Kubernetes: the frontend's address is not known, so TRUSTED_PROXIES is empty; it sends the token."""
    proc = start_app(dict(rl_env, TRUSTED_PROXY_TOKEN=PROXY_TOKEN), workdir, "app-proxy-token")
    try:
        yield proc
    finally:
        proc.stop()


def _token_statuses_from(app: AppProcess, local: str, forwarded: List[str],
                         proxy_token: Optional[str]) -> List[httpx.Response]:
    """Token-endpoint answers for requests from ``local`` (a loopback address of their own: a bucket of its own
    when X-Forwarded-For is ignored), each with one X-Forwarded-For and the proxy token (None: no header)."""
    extra = {} if proxy_token is None else {"X-Cartrita-Proxy-Token": proxy_token}
    with httpx.Client(base_url=app.base_url, timeout=10.0,
                      transport=httpx.HTTPTransport(local_address=local)) as c:
        return [c.post(TOKEN_PATH, headers={"X-API-Key": "wrong", "X-Forwarded-For": f, **extra}) for f in forwarded]


def test_the_proxy_token_makes_forwarded_clients_separate(token_proxy_app):
    # addresses of their own: the other rate-limit apps count in the same Redis database
    rotating = [f"198.18.5.{i}" for i in range(2 * LIMIT + 2)]
    answers = _token_statuses_from(token_proxy_app, "127.0.0.51", rotating, PROXY_TOKEN)
    assert [r.status_code for r in answers] == [401] * len(rotating)  # each forwarded client its own bucket
    # ... and each bucket is still limited (a window boundary may reset the count once)
    same = [r.status_code for r in _token_statuses_from(token_proxy_app, "127.0.0.51", ["198.18.6.200"] *
                                                        (2 * LIMIT + 2), PROXY_TOKEN)]
    assert set(same) <= {401, 429} and 429 in same, same
    # the right-most hop is the client (the proxy appends it); anything further left is the client's own
    spoofed = [r.status_code for r in _token_statuses_from(
        token_proxy_app, "127.0.0.51", [f"192.0.2.{i}, 198.18.6.200" for i in range(3)], PROXY_TOKEN)]
    assert spoofed == [429] * 3, spoofed


@pytest.mark.parametrize("local, proxy_token", [
    ("127.0.0.52", None),
    ("127.0.0.53", "wrong-token-" + "x" * 40),
    ("127.0.0.54", ""),
    ("127.0.0.55", PROXY_TOKEN[:-1]),  # a prefix is not the token
])
def test_without_the_right_proxy_token_rotating_forwarded_for_does_not_escape(token_proxy_app, local, proxy_token):
    answers = _token_statuses_from(token_proxy_app, local, [f"203.0.113.{i}" for i in range(2 * LIMIT + 2)],
                                   proxy_token)
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {401, 429} and 429 in statuses, statuses


def test_the_proxy_token_is_never_logged_or_answered(token_proxy_app):
    answers = _token_statuses_from(token_proxy_app, "127.0.0.56", ["198.51.100.77"], PROXY_TOKEN)
    answers += _token_statuses_from(token_proxy_app, "127.0.0.56", ["198.51.100.77"], PROXY_TOKEN + "x")
    with httpx.Client(base_url=token_proxy_app.base_url, timeout=10.0) as c:
        answers.append(c.get("/api/nothing-here", headers={"X-Cartrita-Proxy-Token": PROXY_TOKEN}))
        answers.append(c.get("/health", headers={"X-Cartrita-Proxy-Token": PROXY_TOKEN}))
    time.sleep(0.3)  # access log lines are written after the response
    for r in answers:
        assert PROXY_TOKEN not in r.text and all(PROXY_TOKEN not in v for v in r.headers.values())
    assert PROXY_TOKEN not in token_proxy_app.output()


@pytest.mark.parametrize("peer, forwarded, trusted, expected", [
    ("127.0.0.1", [], (), "127.0.0.1"),
    ("127.0.0.1", ["6.6.6.6"], (), "127.0.0.1"),  # nobody trusted: the header is ignored
    ("127.0.0.1", ["6.6.6.6"], ("10.0.0.0/8",), "127.0.0.1"),  # the peer is not the trusted proxy
    ("127.0.0.1", ["1.1.1.1, 2.2.2.2"], ("127.0.0.1",), "2.2.2.2"),
    ("127.0.0.1", ["1.1.1.1", "2.2.2.2, 10.0.0.5"], ("127.0.0.1", "10.0.0.0/8"), "2.2.2.2"),  # two headers, in order
    ("127.0.0.1", ["10.0.0.9, 10.0.0.5"], ("127.0.0.1", "10.0.0.0/8"), "10.0.0.9"),  # all proxies: the first
    ("127.0.0.1", ["not-an-address"], ("127.0.0.1",), "127.0.0.1"),
    ("127.0.0.1", ["1.1.1.1, "], ("127.0.0.1",), "127.0.0.1"),  # an empty hop written by the proxy
    ("::1", ["2001:db8::1"], ("::1",), "2001:db8::1"),
    ("127.0.0.1", ["[2001:db8::2]:4711"], ("127.0.0.1",), "2001:db8::2"),
    ("127.0.0.1", ["192.0.2.1:4711"], ("127.0.0.1",), "192.0.2.1"),
])
def test_client_address_from_forwarded_for(peer, forwarded, trusted, expected):
    from ipaddress import ip_network

    from cartrita.orchestrator.guard import forwarded_client

    assert forwarded_client(peer, forwarded, tuple(ip_network(t) for t in trusted)) == expected


@pytest.mark.parametrize("headers, expected", [
    ([(b"x-forwarded-for", b"198.51.100.9")], "127.0.0.1"),  # no token: the peer
    ([(b"x-forwarded-for", b"198.51.100.9"), (b"x-cartrita-proxy-token", PROXY_TOKEN.encode())], "198.51.100.9"),
    ([(b"X-Forwarded-For", b"1.1.1.1, 198.51.100.9"), (b"X-Cartrita-Proxy-Token", PROXY_TOKEN.encode())],
     "198.51.100.9"),
    ([(b"x-forwarded-for", b"198.51.100.9"), (b"x-cartrita-proxy-token", b"nope")], "127.0.0.1"),
    ([(b"x-forwarded-for", b"198.51.100.9"), (b"x-cartrita-proxy-token", PROXY_TOKEN.encode()),
      (b"x-cartrita-proxy-token", b"nope")], "127.0.0.1"),  # two tokens: neither is believed
    ([(b"x-cartrita-proxy-token", PROXY_TOKEN.encode())], "127.0.0.1"),  # no X-Forwarded-For: the peer
])
def test_client_ip_believes_forwarded_for_with_the_proxy_token(headers, expected):
    from types import SimpleNamespace

    from cartrita.orchestrator.guard import client_ip

    app = SimpleNamespace(state=SimpleNamespace(settings=_settings(TRUSTED_PROXY_TOKEN=PROXY_TOKEN)))
    assert client_ip({"type": "http", "client": ("127.0.0.1", 4711), "headers": headers, "app": app}) == expected
    # without a configured token the header proves nothing
    app = SimpleNamespace(state=SimpleNamespace(settings=_settings()))
    assert client_ip({"type": "http", "client": ("127.0.0.1", 4711), "headers": headers, "app": app}) == "127.0.0.1"


# -- item 7: metrics and WebSockets ------------------------------------------------------------------------------


def test_metrics_need_the_metrics_token_or_the_api_key(hard_app, key_headers, metrics_token, sentinels):
    url = f"{hard_app.base_url}/metrics"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {metrics_token}"},
                    {"X-API-Key": "wrong"}, {"Authorization": f"Bearer {metrics_token}x"}):
        r = httpx.get(url, headers=headers, timeout=5.0)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", (headers, r.text)
        assert "cartrita_orchestrator" not in r.text
    # a user's or the service's JWT is not a metrics credential
    service_token = httpx.post(f"{hard_app.base_url}{TOKEN_PATH}", headers=key_headers, timeout=5.0).json()
    r = httpx.get(url, headers={"Authorization": f"Bearer {service_token['access_token']}"}, timeout=5.0)
    assert r.status_code == 401
    for headers in (key_headers, {"Authorization": f"Bearer {metrics_token}"}):
        r = httpx.get(url, headers=headers, timeout=5.0)
        assert r.status_code == 200 and "cartrita_orchestrator_http_requests_total" in r.text
    assert httpx.get(f"{hard_app.base_url}/health", timeout=5.0).status_code == 200  # health stays open
    assert metrics_token not in hard_app.output()


def test_websocket_origin_must_be_listed(hard_app, key_headers):
    url = ws_url(hard_app.base_url, "/ws/chat")
    for origin in ("http://evil.example", "null", "http://localhost:3001", "https://localhost:3000"):
        frame, code = ws_first_frame(url, headers=dict(key_headers, Origin=origin))
        assert frame["type"] == "error" and frame["error"] == "forbidden_origin" and code == 4403, (origin, frame, code)
    # the frontend's pages, and clients that are no browser page (no Origin)
    for headers in (dict(key_headers, Origin=FRONTEND), dict(key_headers, Origin=FRONTEND.upper() + "/"), key_headers):
        assert ws_exchange(url, [({"message": "origin ok"}, "done")], headers=headers)[0][-1]["type"] == "done"


def _jwt(sentinels, subject: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": subject, "iat": now, "exp": now + 300, "iss": "cartrita-ai-orchestrator"},
                      sentinels.jwt_secret, algorithm="HS256")


def test_open_websockets_per_principal_are_capped(hard_app, key_headers, sentinels):
    url = ws_url(hard_app.base_url, "/ws/chat")
    held = [RawSocket(hard_app.base_url, "/ws/chat", key_headers) for _ in range(5)]  # the default cap
    try:
        assert [ws.status for ws in held] == [101] * 5
        frame, code = ws_first_frame(url, headers=key_headers)
        assert frame["error"] == "too_many_connections" and code == 4429, (frame, code)
        # another principal has sockets of its own
        other = {"Authorization": f"Bearer {_jwt(sentinels, 'apikey-someone-else')}"}
        assert ws_exchange(url, [({"message": "mine"}, "done")], headers=other)[0][-1]["type"] == "done"
        # a closed socket frees its place
        held.pop().close()
        wait_until(lambda: ws_exchange(url, [({"message": "my turn"}, "done")], headers=key_headers), 5.0, 0.1,
                   "a free WebSocket place")
    finally:
        for ws in held:
            ws.close()


# -- item 9: CORS in development -----------------------------------------------------------------------------------


def test_development_cors_lists_origins_instead_of_any(hard_app):
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(f"{hard_app.base_url}/api/agents", timeout=5.0, headers={
            "Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "X-API-Key"})

    assert preflight(FRONTEND).headers.get("access-control-allow-origin") == FRONTEND
    evil = preflight("http://evil.example")
    assert evil.headers.get("access-control-allow-origin") is None, dict(evil.headers)
    r = httpx.get(f"{hard_app.base_url}/health", headers={"Origin": "http://evil.example"}, timeout=5.0)
    assert r.headers.get("access-control-allow-origin") is None


# -- the settings ---------------------------------------------------------------------------------------------------


def _settings(**env):
    from cartrita.orchestrator.config import load_settings

    base = {"DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/cartrita", "JWT_SECRET_KEY": "j" * 40}
    return load_settings(dict(base, **env))


@pytest.mark.parametrize("name, value", [
    ("TRUSTED_PROXIES", "proxy.example"),
    ("TRUSTED_PROXIES", "127.0.0.1,300.1.1.1"),
    ("TRUSTED_PROXIES", "10.0.0.0/33"),
    ("WS_MAX_CONNECTIONS_PER_PRINCIPAL", "0"),
    ("WS_MAX_CONNECTIONS_PER_PRINCIPAL", "many"),
    ("TRUSTED_PROXY_TOKEN", "shortProxyToken-" + "t" * 15),  # 31 characters
])
def test_hardening_settings_are_validated(name, value):
    from cartrita.orchestrator.config import ConfigError

    with pytest.raises(ConfigError) as err:
        _settings(**{name: value})
    assert len(err.value.problems) == 1 and name in err.value.problems[0] and value not in err.value.problems[0]


def test_hardening_settings_defaults():
    s = _settings(CARTRITA_ENV="development")
    assert "*" not in s.cors_allow_origins and FRONTEND in s.cors_allow_origins
    assert s.trusted_proxies == () and s.metrics_token is None and s.ws_max_connections_per_principal == 5
    s = _settings(TRUSTED_PROXIES=" 127.0.0.1, 10.0.0.0/8 ,::1", METRICS_TOKEN="m" * 20)
    assert [str(n) for n in s.trusted_proxies] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    assert "m" * 20 in s.secret_values()
    assert s.trusted_proxy_token is None
    s = _settings(TRUSTED_PROXY_TOKEN=PROXY_TOKEN)
    assert s.trusted_proxy_token.get_secret_value() == PROXY_TOKEN and PROXY_TOKEN in s.secret_values()
    assert PROXY_TOKEN not in repr(s) and PROXY_TOKEN not in str(s.dict())
