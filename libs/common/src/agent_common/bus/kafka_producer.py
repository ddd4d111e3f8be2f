"""The producer's own death, and its replacement.

aiokafka's producer sends from one background task, and that task ends on any error it
does not expect (uvloop's transport raising `RuntimeError` on a write to a connection a
broker cut had closed was one). From then on every send fails with a copy of that error,
for good, while the client's metadata requests (and so a ping) still succeed: a service
that looks ready and can publish nothing. `ProducerKeeper` notices the dead sender on the
next publish or ping, counts it (`bus_client_faults_total`), logs what it died of, and
starts a new producer; the publish that found it dead is sent once more on the new one.
"""

from __future__ import annotations

import asyncio
import logging

from faststream.kafka import KafkaBroker
from prometheus_client import Counter

log = logging.getLogger("agent.bus")

CLIENT_FAULTS = Counter(
    "bus_client_faults_total",
    "Kafka producers found dead of an error inside the client (not a broker's answer) and replaced.",
)


def sender_failure(broker: KafkaBroker) -> BaseException | None:
    """What the broker's aiokafka producer died of, or None while it lives (or is not started).

    Read through FastStream's and aiokafka's private fields: there is no public one.
    tests/common/test_bus_client_faults.py fails if they move."""
    state = broker.config.producer._producer  # type: ignore[attr-defined]  # FastStream's RealProducer
    producer = getattr(state, "producer", None)  # absent while the broker is stopped
    if producer is None:
        return None
    task = producer._sender.sender_task
    if task is None or not task.done() or task.cancelled():
        return None
    return task.exception()  # type: ignore[no-any-return]


class ProducerKeeper:
    """Replaces the broker's producer once per death, however many publishes find it dead.

    The replacement holds a lock that a publish finding no producer waits on; a new producer
    that cannot start (the broker away too) is started by the next publish instead."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker
        self._lock = asyncio.Lock()
        self.running = False  # between the bus's start and stop: no producer is started outside it
        self.generation = 0  # bumped by each replacement

    async def ready(self) -> int:
        """The producer generation a publish is about to use, once there is a producer."""
        if self.running and not self._broker.config.producer:
            async with self._lock:
                if not self._broker.config.producer:
                    await self._broker.start()
        return self.generation

    async def replace_if_dead(self, seen: int) -> bool:
        """Replace the producer if it died while generation `seen` was current. True if the producer
        a publish used is now dead and gone (so the publish is worth sending again)."""
        async with self._lock:
            if self.generation != seen:
                return True  # another publish found it dead first and replaced it
            failure = sender_failure(self._broker)
            if failure is None:
                return False
            CLIENT_FAULTS.inc()
            log.error(
                "the Kafka producer died of an error inside the client; starting a new one",
                exc_info=(type(failure), failure, failure.__traceback__),
            )
            self.generation += 1
            try:
                await self._broker.stop()
            except Exception:  # a dead producer may fail to close: the new one matters, not the old
                log.warning("the dead Kafka producer did not close cleanly", exc_info=True)
            await self._broker.start()  # an outage here is ridden through by the publish; `ready` retries
            return True
