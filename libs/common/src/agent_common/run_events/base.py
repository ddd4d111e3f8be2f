"""The run-event channel: how events of one request travel from whichever
orchestrator replica runs it to whichever gateway replica holds the client.

Publishing stamps each event with the next sequence number of its request and
keeps it in a short replay buffer (capped, with a TTL) before broadcasting it.
Listening subscribes first and then reads the buffer, so an event is never
missed between the two: a listener sees every event after `after_seq`, in
order, exactly once, up to and including the terminal `done` or `error`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from agent_common.events import RunEvent


class RunEventChannel(ABC):
    @abstractmethod
    async def publish(self, event: RunEvent) -> RunEvent:
        """Stamp `event` with its request's next `seq`, buffer it, broadcast it; return it stamped.
        Once the request's ending (`done` or `error`) is published, nothing more is: an event
        after it is dropped and comes back with the ending's `seq`."""

    @abstractmethod
    def listen(
        self, request_id: str, after_seq: int = 0, *, fresh: bool = False
    ) -> AbstractAsyncContextManager[AsyncIterator[RunEvent]]:
        """Subscribe to a request's events. On entering, the subscription is live;
        iterating yields the events with `seq > after_seq`, ending after a terminal one.

        `fresh`: the caller's word that nothing can have been published for the request yet
        (it publishes the request itself once subscribed), so the buffer need not be read
        first; an event missed anyway still shows as a gap and is read from it."""

    @abstractmethod
    async def audience(self, request_id: str) -> int:
        """How many listeners the request's latest event reached, or reach now if this channel
        published none for it. Over Redis a listener is a gateway process (its one subscription
        serves all its clients), as `PUBLISH` counts them; 0 means nobody hears the run."""

    @abstractmethod
    async def replay(self, request_id: str, after_seq: int = 0) -> list[RunEvent]:
        """The buffered events of a request with `seq > after_seq`, in order."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    @abstractmethod
    async def ping(self) -> bool: ...


class SequenceTracker:
    """Orders events by `seq` for one listener: drops repeats, reports gaps.

    Live events can race the replayed buffer, and pub/sub can lose a message
    during a reconnect; a gap tells the listener to read the buffer again.
    """

    def __init__(self, after_seq: int) -> None:
        self.last = after_seq

    def accept(self, event: RunEvent) -> bool:
        if event.seq <= self.last:
            return False
        self.last = event.seq
        return True

    def is_gap(self, event: RunEvent) -> bool:
        return event.seq > self.last + 1
