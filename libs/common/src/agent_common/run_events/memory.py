"""The embedded default's run-event channel: in-process, same contract as Redis."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from agent_common.events import RunEvent, is_terminal
from agent_common.run_events.base import RunEventChannel, SequenceTracker


@dataclass
class _Run:
    buffer: deque[RunEvent]
    seq: int = 0
    expires_at: float = 0.0
    ended: bool = False
    listeners: set[asyncio.Queue[RunEvent]] = field(default_factory=set)


# How often runs past their time are looked for: a sweep reads every run kept (ten minutes' worth),
# so one on every published token made each token cost more the busier the platform had been.
SWEEP_EVERY_S = 1.0


class MemoryRunEventChannel(RunEventChannel):
    def __init__(self, buffer_size: int = 10_000, ttl_s: float = 600.0) -> None:
        self._buffer_size = buffer_size
        self._ttl_s = ttl_s
        self._runs: dict[str, _Run] = {}
        self._next_sweep = 0.0

    def _run(self, request_id: str) -> _Run:
        self._expire()
        run = self._runs.get(request_id)
        if run is None:
            run = self._runs[request_id] = _Run(buffer=deque(maxlen=self._buffer_size))
        run.expires_at = time.monotonic() + self._ttl_s
        return run

    def _expire(self) -> None:
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_EVERY_S
        for request_id in [k for k, r in self._runs.items() if r.expires_at < now and not r.listeners]:
            del self._runs[request_id]

    async def publish(self, event: RunEvent) -> RunEvent:
        run = self._run(event.request_id)
        if run.ended:  # a run has one ending: what comes after it is dropped
            return event.model_copy(update={"seq": run.seq})
        run.ended = is_terminal(event)
        run.seq += 1
        stamped = event.model_copy(update={"seq": run.seq})
        run.buffer.append(stamped)
        for queue in run.listeners:
            queue.put_nowait(stamped)
        return stamped

    async def audience(self, request_id: str) -> int:
        run = self._runs.get(request_id)
        return len(run.listeners) if run else 0

    async def replay(self, request_id: str, after_seq: int = 0) -> list[RunEvent]:
        run = self._runs.get(request_id)
        return [e for e in run.buffer if e.seq > after_seq] if run else []

    @asynccontextmanager
    async def listen(
        self, request_id: str, after_seq: int = 0, *, fresh: bool = False
    ) -> AsyncIterator[AsyncIterator[RunEvent]]:
        # `fresh` changes nothing here: reading the buffer first costs no round trip.
        run = self._run(request_id)
        queue: asyncio.Queue[RunEvent] = asyncio.Queue()
        run.listeners.add(queue)
        try:
            yield self._events(request_id, queue, after_seq)
        finally:
            run.listeners.discard(queue)

    async def _events(self, request_id: str, queue: asyncio.Queue[RunEvent], after_seq: int) -> AsyncIterator[RunEvent]:
        tracker = SequenceTracker(after_seq)
        for event in await self.replay(request_id, after_seq):
            if tracker.accept(event):
                yield event
                if is_terminal(event):
                    return
        while True:
            event = await queue.get()
            if tracker.accept(event):
                yield event
                if is_terminal(event):
                    return

    async def ping(self) -> bool:
        return True
