"""Who listens to which run, in one process: each request's subscription on the shared pub/sub
connection, and each listener's queue of the events the reader hands it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from redis.asyncio.connection import AbstractConnection

from agent_common.events import RunEvent

QUEUE_SIZE = 1024  # per listener; beyond it the listener re-reads the buffer instead
WAKE = object()  # queue item: look at the listener's flags


class Listener:
    """One client following a run: what the reader handed it, and what it must do next."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_SIZE)
        self.resync = True  # read the buffer (again) before going on: first what came before us
        self.closed = False
        self.outage = False  # Redis has been away longer than the bound: give up

    def put(self, event: RunEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.resync = True  # the buffer has what did not fit

    def poke(self, *, closed: bool = False, outage: bool = False) -> None:
        self.resync = True
        self.closed = self.closed or closed
        self.outage = self.outage or outage
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(WAKE)


class Subscription:
    """One request's subscription, shared by every listener of that request."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.listeners: set[Listener] = set()
        self.confirmed = asyncio.Event()
        self.ever_confirmed = False
        self.sent_on: AbstractConnection | None = None
