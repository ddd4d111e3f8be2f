"""The bus's contract, run against the in-process bus and Kafka; and what only Kafka
has: an offset left uncommitted by a handler held by an outage when its consumer stops."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from agent_common.bus import Bus, MemoryBus, kafka_consumer
from agent_common.bus.kafka import KafkaBus
from agent_common.messages import DeadLetter
from tests.contracts.bus import CONTRACT_TOPIC, FAST_RETRIES, BusContract, Note, note


class TestMemoryBus(BusContract):
    @pytest.fixture
    def bus(self) -> Bus:
        return MemoryBus(partitions=4, retries=FAST_RETRIES)


class TestKafkaBus(BusContract):
    # A new consumer group joins, is assigned its partitions and reads from the start.
    delivery_timeout_s = 30.0
    # A consumer joining at start would have been assigned its partitions and handled the first note.
    unready_s = 8.0

    @pytest.fixture
    def bus(self, kafka_bootstrap: str) -> Bus:
        return self.kafka_bus(kafka_bootstrap)

    @staticmethod
    def kafka_bus(bootstrap: str) -> KafkaBus:
        return KafkaBus(bootstrap, client_id="bus-contract", topics=(CONTRACT_TOPIC,), retries=FAST_RETRIES)

    async def test_a_consumer_stopped_while_an_outage_holds_a_message_leaves_it_uncommitted_for_the_next(
        self, kafka_bootstrap: str, bus: Bus, parked: list[DeadLetter], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(kafka_consumer, "DRAIN_TIMEOUT_S", 0.5)
        session, group = f"held-{uuid.uuid4().hex[:8]}", f"held-{uuid.uuid4().hex[:8]}"
        tried = asyncio.Event()

        async def redis_away(msg: Note) -> None:
            if msg.session_id == session:
                tried.set()
                raise RedisConnectionError("Connection refused.")

        bus.subscribe(Note, redis_away, group=group)
        await bus.start()
        try:
            await bus.publish(note(session, 1))
            await asyncio.wait_for(tried.wait(), self.delivery_timeout_s)
        finally:
            started = time.monotonic()
            await bus.stop()  # the drain gives the held handler its time, then cancels it
        assert time.monotonic() - started < 10 and parked == []

        handled = asyncio.Event()

        async def redis_back(msg: Note) -> None:
            if msg.session_id == session:
                handled.set()

        successor = self.kafka_bus(kafka_bootstrap)
        successor.subscribe(Note, redis_back, group=group)
        await successor.start()
        try:  # not committed, so delivered again to the group's next consumer
            await asyncio.wait_for(handled.wait(), self.delivery_timeout_s)
        finally:
            await successor.stop()
