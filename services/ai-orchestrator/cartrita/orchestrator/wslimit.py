"""A cap on the size of one incoming WebSocket message, applied while it streams in.

uvicorn 0.17 serves WebSockets here through wsproto (Debian's python3-uvicorn depends on python3-wsproto, not on
websockets), and its wsproto protocol appends each piece of a message to a buffer without any limit
(``--ws-max-size`` only reaches the websockets implementation): one 300 MB frame took the process past 650 MB.
ASGI hands the application whole messages only, so no middleware can stop that. :func:`install` wraps the
protocol's handlers instead: once a message grows past the limit the server sends close 1009 (message too big),
stops reading and drops the connection shortly after, so the rest is never read, let alone buffered.

The AppHost and the image start uvicorn with ``--ws wsproto`` (this protocol, whatever else is installed) and
``--ws-per-message-deflate false``: wsproto inflates a compressed frame whole, before any handler could count it.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets import wsproto_impl
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection

CLOSE_MESSAGE_TOO_BIG = 1009
#: time the refused client gets to read the close frame; it cannot answer it while it is still sending its message
CLOSE_GRACE_SECONDS = 2.0
#: room for the upgrade request itself among the bytes that arrive before the server accepts
HANDSHAKE_BYTES = 64 * 1024


def install(max_message_bytes: int) -> None:
    """Caps every message uvicorn's wsproto protocol receives in this process (the last call's limit holds)."""
    protocol = wsproto_impl.WSProtocol
    protocol.cartrita_max_message_bytes = max_message_bytes
    if vars(protocol).get("cartrita_guarded"):
        return
    protocol.cartrita_guarded = True
    data_received, handle_text, handle_bytes, handle_ping = (
        protocol.data_received, protocol.handle_text, protocol.handle_bytes, protocol.handle_ping)

    def guarded_data_received(self: Any, data: bytes) -> None:
        if self.__dict__.get("cartrita_refused"):
            return
        if not self.handshake_complete:
            # frames sent before the accept wait, uncounted, in wsproto's handshake buffer: bound them too
            early = self.__dict__.get("cartrita_early_bytes", 0) + len(data)
            self.cartrita_early_bytes = early
            if early > self.cartrita_max_message_bytes + HANDSHAKE_BYTES:
                _refuse(self)
                return
        data_received(self, data)

    def guarded_handle_text(self: Any, event: Any) -> None:
        # counted as the UTF-8 the client sent: the limit is on the wire size
        if _admit(self, len(event.data.encode("utf-8")), event.message_finished):
            handle_text(self, event)

    def guarded_handle_bytes(self: Any, event: Any) -> None:
        if _admit(self, len(event.data), event.message_finished):
            handle_bytes(self, event)

    def guarded_handle_ping(self: Any, event: Any) -> None:
        if not self.__dict__.get("cartrita_refused"):  # a pong after our close would be a protocol error
            handle_ping(self, event)

    protocol.data_received = guarded_data_received
    protocol.handle_text = guarded_handle_text
    protocol.handle_bytes = guarded_handle_bytes
    protocol.handle_ping = guarded_handle_ping


def _admit(self: Any, size: int, finished: bool) -> bool:
    """Whether this piece of the current message may be buffered; refuses the connection when not."""
    if self.__dict__.get("cartrita_refused"):
        return False
    total = self.__dict__.get("cartrita_message_bytes", 0) + size
    if total > self.cartrita_max_message_bytes:
        _refuse(self)
        return False
    self.cartrita_message_bytes = 0 if finished else total
    return True


def _refuse(self: Any) -> None:
    self.cartrita_refused = True
    self.text, self.bytes = "", b""
    disconnect = {"type": "websocket.disconnect", "code": CLOSE_MESSAGE_TOO_BIG}
    if not self.handshake_complete:
        # no WebSocket yet to send 1009 on: drop the connection (the application's accept then goes nowhere)
        self.queue.put_nowait(disconnect)
        self.transport.close()
        return
    if not self.close_sent:
        # the application sees the socket close, as if the client had closed it with 1009
        self.close_sent = True
        self.queue.put_nowait(disconnect)
    if self.conn.state is ConnectionState.OPEN:
        self.transport.write(self.conn.send(CloseConnection(code=CLOSE_MESSAGE_TOO_BIG, reason="message too big")))
    self.read_paused = False  # uvicorn must not resume reading when the application takes the disconnect
    self.transport.pause_reading()
    self.loop.call_later(CLOSE_GRACE_SECONDS, self.transport.close)
