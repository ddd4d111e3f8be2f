"""The producer's own death, and its replacement.

aiokafka's producer sends from one background task, and that task ends on any error it
does not expect (uvloop's transport raising `RuntimeError` on a write to a connection a
broker cut had closed was one). From then on every send fails with a copy of that error,
for good, while the client's metadata requests (and so a ping) still succeed: a service
that looks ready and can publish nothing. Its client's metadata refresh dies the same way
(`kafka_client_deaths.py`). `ProducerKeeper` notices the death on the next publish or ping,
counts it (`bus_client_faults_total`), logs what it died of, and starts a new producer; the
publish that found it dead is sent once more on the new one.
"""

from __future__ import annotations

import asyncio
import logging

from faststream.kafka import KafkaBroker

from agent_common.bus.kafka_client_deaths import forget_dead_producer_tasks, sender_failure
from agent_common.bus.metrics import CLIENT_FAULTS

log = logging.getLogger("agent.bus")


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
            CLIENT_FAULTS.labels("producer").inc()
            log.error(
                "the Kafka producer died of an error inside the client; starting a new one",
                exc_info=(type(failure), failure, failure.__traceback__),
            )
            self.generation += 1
            forget_dead_producer_tasks(self._broker)  # else stopping raises the death again, half-way
            try:
                await self._broker.stop()
            except Exception:  # a dead producer may fail to close: the new one matters, not the old
                log.warning("the dead Kafka producer did not close cleanly", exc_info=True)
            await self._broker.start()  # an outage here is ridden through by the publish; `ready` retries
            return True
