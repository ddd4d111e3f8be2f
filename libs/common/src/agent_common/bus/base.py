"""The bus interface the services' handlers are written against.

Handlers are plain async functions of one typed message. Which transport
carries the message (Kafka in the distributed mode, an in-process bus in the
embedded default) is configuration, not code in the handler.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from agent_common.bus.delivery import Handler, M
from agent_common.messages import BusMessage, DeadLetter


class Bus(ABC):
    """Publishes messages to topics and runs handlers for the topics subscribed to."""

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
