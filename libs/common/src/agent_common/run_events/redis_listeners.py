"""Who listens to which run, in one process: each request's subscription on the shared pub/sub
connection, each listener's queue of the events the reader hands it, and a listener's way
through that queue and the buffer (`events_of`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError

from agent_common.events import RunEvent, is_terminal
from agent_common.run_events.base import SequenceTracker

log = logging.getLogger("agent.run_events")

QUEUE_SIZE = 1024  # per listener; beyond it the listener re-reads the buffer instead
_RETRY_READ_S = 0.5  # a listener whose buffer read failed tries again after this
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


async def events_of(
    listener: Listener,
    request_id: str,
    after_seq: int,
    replay: Callable[[str, int], Awaitable[list[RunEvent]]],
    gave_up: Callable[[], bool],
    raise_if_gave_up: Callable[[], None],
) -> AsyncIterator[RunEvent]:
    """One listener's events after `after_seq`, in order, each once, to the terminal one: what
    the reader handed it, and the buffer (`replay`) when it must catch up (first, after a
    reconnect, at a gap). Once the subscriber has given up on Redis (`gave_up`), what arrived
    in order still goes out, then `raise_if_gave_up` ends it."""
    tracker = SequenceTracker(after_seq)
    held: RunEvent | None = None  # a live event that showed a gap, kept until the buffer is read
    while True:
        if listener.closed:
            return
        if listener.outage:
            listener.outage = False
            if gave_up():
                # What arrived in order before Redis went away still goes out; then the outage is the end.
                while not listener.queue.empty():
                    item = listener.queue.get_nowait()
                    if item is WAKE:
                        continue
                    if tracker.is_gap(item):
                        break
                    if tracker.accept(item):
                        yield item
                        if is_terminal(item):
                            return
                raise_if_gave_up()
            # Back already: go on as after any reconnect (the poke asked for the buffer again).
        if listener.resync:
            listener.resync = False
            try:
                buffered = await replay(request_id, tracker.last)
            except (RedisError, OSError) as exc:
                log.warning("could not read the run-event buffer (%s); retrying", exc, extra={"request_id": request_id})
                listener.resync = True
                await asyncio.sleep(_RETRY_READ_S)
                continue
            if held is not None:
                buffered.append(held)  # lost from the buffer too (a restart): take it as it is
                held = None
            for event in buffered:
                if tracker.accept(event):
                    yield event
                    if is_terminal(event):
                        return
            continue
        item = await listener.queue.get()
        if item is WAKE:
            continue
        if tracker.is_gap(item):
            held = item
            listener.resync = True
            continue
        if tracker.accept(item):
            yield item
            if is_terminal(item):
                return
