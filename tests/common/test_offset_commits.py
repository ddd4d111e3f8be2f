"""Offsets committed behind their handlers (`bus/kafka_offsets.py`): many in one request,
none while idle, at once when partitions leave; and on the broker, a consumer's successor
in the group is given nothing its predecessor handled."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from agent_common.bus.kafka import KafkaBus
from agent_common.bus.kafka_offsets import OffsetCommits
from tests.contracts.bus import CONTRACT_TOPIC, FAST_RETRIES, Note, note

P0, P1 = TopicPartition("t", 0), TopicPartition("t", 1)


class Broker:
    """Takes commit requests, each held until `release` when `hold` is set."""

    def __init__(self) -> None:
        self.requests: list[dict[TopicPartition, int]] = []
        self.hold = False
        self.asked = asyncio.Event()
        self.release = asyncio.Event()

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.requests.append(dict(offsets))
        self.asked.set()
        if self.hold:
            await self.release.wait()


async def test_offsets_handled_within_an_interval_go_in_one_request_with_each_partitions_latest() -> None:
    broker = Broker()
    offsets = OffsetCommits(broker.commit, interval_s=0.05)
    for n in range(1, 30):
        offsets.handled(P0, n)
        offsets.handled(P1, 100 + n)
    await asyncio.sleep(0.15)
    assert broker.requests == [{P0: 29, P1: 129}]


async def test_nothing_handled_sends_nothing_and_leaves_no_task() -> None:
    broker = Broker()
    offsets = OffsetCommits(broker.commit, interval_s=0.01)
    offsets.handled(P0, 1)
    await asyncio.sleep(0.05)
    before = {task.get_name() for task in asyncio.all_tasks()}
    await asyncio.sleep(0.05)
    assert broker.requests == [{P0: 1}]
    assert not any(name.endswith(":commit") for name in before)
    await offsets.flush()  # nothing to flush: returns at once
    assert broker.requests == [{P0: 1}]


async def test_flush_commits_at_once_without_waiting_out_the_interval() -> None:
    broker = Broker()
    offsets = OffsetCommits(broker.commit, interval_s=60)
    offsets.handled(P0, 7)
    await asyncio.wait_for(offsets.flush(), 1)
    assert broker.requests == [{P0: 7}]


async def test_an_offset_handled_while_a_request_is_out_goes_in_the_next() -> None:
    broker = Broker()
    broker.hold = True
    offsets = OffsetCommits(broker.commit, interval_s=0.01)
    offsets.handled(P0, 1)
    await asyncio.wait_for(broker.asked.wait(), 1)
    offsets.handled(P0, 2)  # the first request is still out
    offsets.handled(P1, 5)
    broker.release.set()
    await asyncio.wait_for(offsets.flush(), 1)
    assert broker.requests == [{P0: 1}, {P0: 2, P1: 5}]


async def test_a_flush_whose_caller_is_cancelled_still_commits() -> None:
    broker = Broker()
    broker.hold = True
    offsets = OffsetCommits(broker.commit, interval_s=60)
    offsets.handled(P0, 3)
    flushing = asyncio.ensure_future(offsets.flush())
    await asyncio.sleep(0.01)
    flushing.cancel()
    broker.release.set()
    await asyncio.sleep(0.01)
    assert broker.requests == [{P0: 3}]
    offsets.handled(P0, 4)  # and the next offset still finds a committer
    await asyncio.wait_for(offsets.flush(), 1)
    assert broker.requests == [{P0: 3}, {P0: 4}]


# On the broker.


def kafka_bus(bootstrap: str) -> KafkaBus:
    return KafkaBus(bootstrap, client_id="offsets", topics=(CONTRACT_TOPIC,), retries=FAST_RETRIES)


async def committed(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(max(meta.offset, 0) for tp, meta in offsets.items() if tp.topic == CONTRACT_TOPIC.name)


@pytest.mark.kafka
async def test_a_burst_is_committed_in_fewer_requests_than_messages_and_a_successor_handles_none_again(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    group, session = f"offsets-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:8]}"
    requests = 0
    commit = AIOKafkaConsumer.commit

    async def counted(self: AIOKafkaConsumer, offsets: object = None) -> None:
        nonlocal requests
        requests += 1
        await commit(self, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", counted)
    publisher = kafka_bus(kafka_bootstrap)
    await publisher.start()
    first, second = asyncio.Event(), asyncio.Event()
    seen_first: list[int] = []
    seen_second: list[int] = []

    def handler(seen: list[int], done: asyncio.Event, expect: int) -> Callable[[Note], Awaitable[None]]:
        async def handle(msg: Note) -> None:
            if msg.session_id == session:
                seen.append(int(msg.text))
                if len(seen) == expect:
                    done.set()

        return handle

    try:
        # Offsets before this test's messages: the topic is shared with the rest of the session.
        consumer = kafka_bus(kafka_bootstrap)
        consumer.subscribe(Note, handler(seen_first, first, 40), group=group)
        await consumer.start()
        try:
            await asyncio.sleep(3)  # joined and assigned
            for n in range(40):
                await publisher.publish(note(session, n))
            await asyncio.wait_for(first.wait(), 30)
        finally:
            await consumer.stop()  # commits what was handled before leaving the group
        assert seen_first == list(range(40))  # one session: one partition, in order
        assert requests < 40
        at_stop = await committed(kafka_bootstrap, group)

        successor = kafka_bus(kafka_bootstrap)
        successor.subscribe(Note, handler(seen_second, second, 1), group=group)
        await successor.start()
        try:
            await asyncio.sleep(3)
            await publisher.publish(note(session, 40))
            await asyncio.wait_for(second.wait(), 30)
        finally:
            await successor.stop()
        assert seen_second == [40]  # none of the first forty again
        assert await committed(kafka_bootstrap, group) == at_stop + 1
    finally:
        await publisher.stop()
