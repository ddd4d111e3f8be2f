"""Slow clients (slowloris): a request's head must arrive within a bound, or the connection is closed.

uvicorn bounds the idle time between requests (`timeout_keep_alive`) but not the time a
client takes to send a request's head: a connection that sends nothing, or one byte of
headers now and then, is otherwise held for ever. This is uvicorn's h11 protocol with a
deadline from the connection's start (and from each response's end, for the next request)
to the end of the head. The body's deadline is the gateway's (`body_limit.py`): only the
app knows which routes read one.

A connection ended while its client is still sending (the 408 for a slow head or body, a
413, any answer given before the body is read) is closed the way nginx's lingering close
does it: the answer, then this side's end (FIN), then whatever still comes is read and
dropped until the client ends its side or `LINGER_S` passes. Closed at once, the bytes
left unread make the kernel answer with a reset, and a client still writing sees its
connection reset instead of the answer it was sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

import h11
from prometheus_client import Counter
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HEADER_TIMEOUT_S", "LINGER_S", "SLOW_CLIENTS", "header_deadline_protocol"]

logger = logging.getLogger("agent_common.slow_clients")

# Generous for any real client (a head is one packet), short enough that a few hundred
# stalled connections cannot pile up.
HEADER_TIMEOUT_S = 10.0

SLOW_CLIENTS = Counter(
    "http_slow_clients_total",
    "Connections closed because the client was too slow to send its request, by phase (header, body).",
    ["phase"],
)
for _phase in ("header", "body"):
    SLOW_CLIENTS.labels(_phase)

_TIMEOUT_RESPONSE = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"

# The longest a connection is kept, read and dropped, after its answer while its client goes on sending.
LINGER_S = 2.0


class _LingeringClose:
    """The transport uvicorn is given: `close()` with the request still coming shuts the
    writing side after the answer and reads on (dropped) until the client's end or `LINGER_S`."""

    def __init__(self, transport: asyncio.Transport, request_unread: Callable[[], bool]) -> None:
        self._transport = transport
        self._request_unread = request_unread
        self.lingering = False
        self._deadline: asyncio.TimerHandle | None = None

    def close(self) -> None:
        transport = self._transport
        if self.lingering or transport.is_closing():
            return
        if not self._request_unread() or not transport.can_write_eof():
            transport.close()
            return
        self.lingering = True
        transport.write_eof()  # after what is buffered: the answer goes first
        transport.resume_reading()  # flow control may have paused it
        self._deadline = asyncio.get_running_loop().call_later(LINGER_S, transport.close)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def closed(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _HeaderDeadlineProtocol(H11Protocol):
    header_timeout_s: float = HEADER_TIMEOUT_S
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._closing = _LingeringClose(transport, self._request_unread)
        super().connection_made(cast(asyncio.Transport, self._closing))
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self._closing.lingering:
            return  # answered and ending: dropped
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._head_received()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_head()  # the next request on this connection has the same bound

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_received()
        self._closing.closed()
        super().connection_lost(exc)

    def _request_unread(self) -> bool:
        """Whether the client may still be sending this request: its body, or the rest of its head."""
        their_state = self.conn.their_state
        return their_state is h11.SEND_BODY or (their_state is h11.IDLE and bool(self.conn.trailing_data[0]))

    def _await_head(self) -> None:
        self._head_received()
        self._head_deadline = self.loop.call_later(self.header_timeout_s, self._head_too_slow)

    def _head_received(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        SLOW_CLIENTS.labels("header").inc()
        logger.warning(
            "closed a connection whose request head did not arrive within %.0f s",
            self.header_timeout_s,
            extra={"client": self.client[0] if self.client else None, "phase": "header"},
        )
        self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


def header_deadline_protocol(timeout_s: float) -> type[Any]:
    """uvicorn's `http=` protocol class, closing connections whose head is slower than `timeout_s`."""
    return type("HeaderDeadlineProtocol", (_HeaderDeadlineProtocol,), {"header_timeout_s": timeout_s})
