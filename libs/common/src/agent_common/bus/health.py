"""How long this process's bus has been unreachable, from a ping loop.

A gateway that published a chat request hears nothing more from the bus: the run's
events come through the run-event channel. If the broker goes away before a consumer
took the request, nothing will ever answer it until the broker is back, so the
gateway asks here whether the bus has been away longer than it rides through, and
ends the run then (`bus_unavailable`) rather than at the client's deadline.

It pings only while a run waits for its first event (`watching`): an idle gateway has
no question to answer, and a ping a second was half a millisecond of its CPU a second.
What it knew is forgotten when the last run stops watching: a bus that was away then
may be back by the next run, which a fresh ping tells within a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from agent_common.bus.base import Bus
from agent_common.tasks import stop_task

log = logging.getLogger("agent.bus")

# How often the bus is pinged; a failing Kafka ping itself takes up to 2 s.
PING_INTERVAL_S = 1.0


class BusHealth:
    """Enter to start pinging `bus`; `unreachable_for()` says for how long it has failed."""

    def __init__(self, bus: Bus, interval_s: float = PING_INTERVAL_S) -> None:
        self._bus = bus
        self._interval_s = interval_s
        self._down_since: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._watchers = 0
        self._watched = asyncio.Event()

    def unreachable_for(self) -> float:
        """Seconds since the first of the pings failing now; 0 while the bus answers."""
        return 0.0 if self._down_since is None else time.monotonic() - self._down_since

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Pinging while inside (at once on entering, if nothing else was watching)."""
        self._watchers += 1
        self._watched.set()
        try:
            yield
        finally:
            self._watchers -= 1
            if not self._watchers:
                self._watched.clear()
                self._down_since = None

    async def __aenter__(self) -> BusHealth:
        self._task = asyncio.create_task(self._watch(), name="bus:health")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await stop_task(self._task)
        self._task = None

    async def _watch(self) -> None:
        while True:
            await self._watched.wait()
            asked_at = time.monotonic()
            try:
                reachable = await self._bus.ping()
            except Exception:
                reachable = False
            if reachable:
                if self._down_since is not None:
                    log.info("the bus is reachable again", extra={"after_s": round(self.unreachable_for(), 1)})
                self._down_since = None
            elif self._down_since is None and self._watchers:
                log.warning("the bus is unreachable")
                self._down_since = asked_at
            await asyncio.sleep(self._interval_s)
