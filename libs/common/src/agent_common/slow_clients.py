"""Slow clients (slowloris): a request's head must arrive within a bound, or the connection is closed.

uvicorn bounds the idle time between requests (`timeout_keep_alive`) but not the time a
client takes to send a request's head: a connection that sends nothing, or one byte of
headers now and then, is otherwise held for ever. This is uvicorn's h11 protocol with a
deadline from the connection's start (and from each response's end, for the next request)
to the end of the head. The body's deadline is the gateway's (`body_limit.py`): only the
app knows which routes read one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from prometheus_client import Counter
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HEADER_TIMEOUT_S", "SLOW_CLIENTS", "header_deadline_protocol"]

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


class _HeaderDeadlineProtocol(H11Protocol):
    header_timeout_s: float = HEADER_TIMEOUT_S
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._head_received()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_head()  # the next request on this connection has the same bound

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_received()
        super().connection_lost(exc)

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
