"""The bus interface the services' handlers are written against.

Handlers are plain async functions of one typed message. Which transport
carries the message (Kafka in the distributed mode, an in-process bus in the
embedded default) is configuration, not code in the handler.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import ValidationError

from agent_common.messages import BusMessage

log = logging.getLogger("agent.bus")

M = TypeVar("M", bound=BusMessage)
Handler = Callable[[M], Awaitable[None]]


class Bus(ABC):
    """Publishes messages to topics and runs handlers for the topics subscribed to."""

    @abstractmethod
    def subscribe(self, model: type[M], handler: Handler[M], *, group: str, concurrency: int = 1) -> None:
        """Run `handler` for every message of `model.topic` delivered to consumer `group`.

        Must be called before `start()`. Messages with the same partition key are
        handled one at a time, in order; up to `concurrency` keys at once.
        """

    @abstractmethod
    async def publish(self, message: BusMessage) -> None:
        """Send `message` to its topic, keyed by its partition key."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def ping(self) -> bool:
        """True when the transport can carry messages now (the readiness probe)."""


async def deliver(model: type[M], handler: Handler[M], raw: bytes, topic: str) -> None:
    """Decode one raw message and run its handler; the same path for every transport.

    A message that does not decode is logged and skipped, never retried: retrying
    cannot make it valid, and it must not block the messages behind it. A handler
    that raises is logged; handlers report their own failures to the client.
    """
    try:
        message = model.model_validate_json(raw)
    except ValidationError as exc:
        log.error(
            "undecodable message skipped",
            extra={"topic": topic, "error": exc.errors(include_url=False)[:5], "size": len(raw)},
        )
        return
    try:
        await handler(message)
    except Exception:
        log.exception(
            "handler failed",
            extra={"topic": topic, "request_id": message.request_id, "message_id": message.message_id},
        )
