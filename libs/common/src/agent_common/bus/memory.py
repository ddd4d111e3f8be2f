"""The embedded default's bus: in-process, with Kafka's delivery shape.

Each consumer group gets every message of a topic; inside a group, messages
are spread over partitions by key, and each partition is worked through in
order by one task. Messages travel as bytes, so they are validated on the
way in exactly as they are from Kafka, with headers that carry the trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from agent_common.bus.base import Bus
from agent_common.bus.delivery import HANDLER_RETRIES, Handler, HandlerRetries, M, deliver
from agent_common.bus.metrics import export_at_start
from agent_common.messages import BusMessage, DeadLetter
from agent_common.tracing import consuming, producing

# One record on a partition: the message's bytes and its headers.
Record = tuple[bytes, dict[str, str]]


@dataclass
class _Group:
    topic: str
    partitions: list[asyncio.Queue[Record]]
    run: Callable[[Record], Awaitable[None]]
    workers: list[asyncio.Task[None]] = field(default_factory=list)


class MemoryBus(Bus):
    def __init__(self, partitions: int = 8, *, retries: HandlerRetries = HANDLER_RETRIES) -> None:
        self._partitions = partitions
        self._retries = retries
        self._groups: dict[str, list[_Group]] = {}
        self._started = False
        # The embedded default's dead-letter topic: kept in memory (and logged), newest last, bounded.
        self.dead_letters: list[DeadLetter] = []

    def subscribe(self, model: type[M], handler: Handler[M], *, group: str, concurrency: int = 1) -> None:
        if self._started:
            raise RuntimeError("subscribe before start()")
        topic = model.topic
        export_at_start(topic)

        async def run(record: Record) -> None:
            raw, headers = record
            with consuming(topic, group, headers, "memory"):
                await deliver(model, handler, raw, topic, self.park, self._retries)

        queues: list[asyncio.Queue[Record]] = [asyncio.Queue() for _ in range(self._partitions)]
        self._groups.setdefault(topic, []).append(_Group(topic, queues, run))

    def follow(self, model: type[M], handler: Handler[M]) -> None:
        # A group of its own: in one process, that is every message, and nothing outlives it.
        self.subscribe(model, handler, group=f"follow-{model.topic}-{len(self._groups.get(model.topic, []))}")

    async def publish(self, message: BusMessage) -> None:
        key = message.partition_key()
        with producing(message.topic, message.message_id, key, "memory") as headers:
            self._put(message.topic, key, (message.to_bytes(), headers))

    async def park(self, letter: DeadLetter) -> None:
        self.dead_letters = [*self.dead_letters[-999:], letter]

    def inject(self, topic: str, key: str, raw: bytes) -> None:
        """Put raw bytes on a topic as a producer outside the platform could (tests, replays)."""
        self._put(topic, key, (raw, {}))

    def _put(self, topic: str, key: str, record: Record) -> None:
        partition = zlib.crc32(key.encode()) % self._partitions
        for group in self._groups.get(topic, []):
            group.partitions[partition].put_nowait(record)

    async def start(self) -> None:
        self._started = True
        await self._consume_from_start()

    async def _start_consumers(self) -> None:
        for groups in self._groups.values():
            for group in groups:
                group.workers = [
                    asyncio.create_task(self._work(group, queue), name=f"bus:{group.topic}:{i}")
                    for i, queue in enumerate(group.partitions)
                ]

    async def stop_consuming(self) -> None:
        await self._stop_consuming_started()

    async def _stop_consumers(self) -> None:
        tasks = [t for groups in self._groups.values() for g in groups for t in g.workers]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for groups in self._groups.values():
            for group in groups:
                group.workers = []

    async def stop(self) -> None:
        await self.stop_consuming()
        self._started = False

    async def ping(self) -> bool:
        return self._started

    @staticmethod
    async def _work(group: _Group, queue: asyncio.Queue[Record]) -> None:
        while True:
            await group.run(await queue.get())
