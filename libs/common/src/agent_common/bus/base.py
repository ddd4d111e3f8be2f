"""The bus interface the services' handlers are written against.

Handlers are plain async functions of one typed message. Which transport
carries the message (Kafka in the distributed mode, an in-process bus in the
embedded default) is configuration, not code in the handler.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

from agent_common.bus.delivery import Handler, M
from agent_common.messages import BusMessage, DeadLetter
from agent_common.tasks import stop_task

log = logging.getLogger("agent.bus")

# Whether this process can do the work its subscriptions bring (its readiness checks).
ReadyToConsume = Callable[[], Awaitable[bool]]

# How often a process not yet ready asks again before it joins its consumer groups.
READY_POLL_S = 1.0


class Bus(ABC):
    """Publishes messages to topics and runs handlers for the topics subscribed to."""

    _ready_to_consume: ReadyToConsume | None = None
    _joining: asyncio.Task[None] | None = None
    _consuming = False

    def consume_when(self, ready: ReadyToConsume) -> None:
        """Take no message before `ready()` is true: `start()` then joins the consumer groups in
        the background, once it is (asked every `READY_POLL_S`), and publishing works at once.

        Readiness keeps HTTP traffic from a pod, not its consumers: a replica that can never do
        its work (a release naming a Redis that is not there) would otherwise join its groups,
        take its share of partitions and hold their messages until it is gone. Only the start is
        gated: a dependency lost later is ridden through, not answered by leaving the group.
        Must be called before `start()`."""
        self._ready_to_consume = ready

    async def consuming(self) -> bool:
        """True once the subscriptions take messages (at `start()`, or once ready), until
        `stop_consuming()`: a readiness check for a process whose start is gated."""
        return self._consuming

    async def _consume_from_start(self) -> None:
        """For `start()`: begin consuming now, or in the background once ready."""
        ready = self._ready_to_consume
        if ready is None:
            await self._start_consumers()
            self._consuming = True
        else:
            self._joining = asyncio.create_task(self._consume_once_ready(ready), name="bus:consume-once-ready")

    async def _consume_once_ready(self, ready: ReadyToConsume) -> None:
        waiting = False
        while not await _holds(ready):
            if not waiting:
                log.warning("not taking messages yet: this process is not ready (see /ready)")
                waiting = True
            await asyncio.sleep(READY_POLL_S)
        while True:
            try:
                await self._start_consumers()
            except Exception:
                log.warning("could not start consuming; trying again", exc_info=True)
                await self._stop_consumers()
                await asyncio.sleep(READY_POLL_S)
                continue
            self._consuming = True
            if waiting:
                log.info("ready: taking messages")
            return

    async def _stop_consuming_started(self) -> None:
        """For `stop_consuming()`: a join still waiting is given up, then the consumers stop."""
        await stop_task(self._joining)
        self._joining = None
        self._consuming = False
        await self._stop_consumers()

    @abstractmethod
    async def _start_consumers(self) -> None:
        """Start every subscription's consumer."""

    @abstractmethod
    async def _stop_consumers(self) -> None:
        """Stop them (handlers in flight end first); safe for consumers never started."""

    @abstractmethod
    def subscribe(self, model: type[M], handler: Handler[M], *, group: str, concurrency: int = 1) -> None:
        """Run `handler` for every message of `model.topic` delivered to consumer `group`.

        Must be called before `start()`. Messages with the same partition key are
        handled one at a time, in order; up to `concurrency` keys at once.
        """

    @abstractmethod
    def follow(self, model: type[M], handler: Handler[M]) -> None:
        """Run `handler` in this process for every message of `model.topic`, from the topic's
        start, outside any consumer group: each process hears everything, and leaves nothing
        behind when it goes (Kafka keeps no group for it). Must be called before `start()`."""

    @abstractmethod
    async def publish(self, message: BusMessage) -> None:
        """Send `message` to its topic, keyed by its partition key."""

    @abstractmethod
    async def park(self, letter: DeadLetter) -> None:
        """Put a message no handler could take on the dead-letter topic."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop_consuming(self) -> None:
        """Stop taking messages (handlers in flight end first); publishing still works, so work
        handed off by a handler can finish. What was not handled stays for other consumers."""

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def ping(self) -> bool:
        """True when the transport can carry messages now (the readiness probe)."""


async def _holds(ready: ReadyToConsume) -> bool:
    try:
        return await ready()
    except Exception:  # a check that fails is a "no", as /ready answers it
        return False
