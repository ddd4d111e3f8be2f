"""The consumer-lag gauge over a real Kafka: messages a group has fetched but not
committed count as lag, and the lag falls to zero once they are handled.

The gauge is read while the consumer long-polls the broker, as it nearly always is. The poll
is made longer than the test's deadline: a read queued behind it (a broker answers one
connection's requests in order) leaves the gauge stale and fails the test every time, not
only when the machine is busy enough to miss the moments between two polls."""

from __future__ import annotations

import asyncio
import secrets
from typing import ClassVar, Literal

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY

from agent_common.bus import kafka as kafka_bus
from agent_common.bus.kafka import KafkaBus
from agent_common.messages import BusMessage
from agent_common.topics import Topic

pytestmark = [pytest.mark.kafka]

TOPIC = Topic(f"observability.lag-probe-{secrets.token_hex(4)}", partitions=1, consumer_group="lag-probe")


class Probe(BusMessage):
    topic: ClassVar[str] = TOPIC.name
    kind: Literal["probe"] = "probe"


def lag() -> float | None:
    return REGISTRY.get_sample_value(
        "kafka_consumer_lag_messages", {"group": TOPIC.consumer_group, "topic": TOPIC.name}
    )


async def until_lag_is(expected: float) -> None:
    """The gauge is refreshed on a timer, so there is no event to await: poll it, with a deadline."""
    async with asyncio.timeout(30):
        while True:
            if lag() == expected:
                return
            await asyncio.sleep(0.1)


async def committed_by_kafka(bootstrap: str) -> int:
    """The group's committed offset as the broker reports it (what `kafka-consumer-groups` shows)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(TOPIC.consumer_group)
    finally:
        await admin.close()
    return sum(max(meta.offset, 0) for tp, meta in offsets.items() if tp.topic == TOPIC.name)


# Well past `until_lag_is`'s deadline.
LONG_POLL_MS = 120_000


async def test_lag_counts_uncommitted_messages_and_returns_to_zero_once_handled(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kafka_bus, "FETCH_MAX_WAIT_MS", LONG_POLL_MS)
    release = asyncio.Event()
    handled: list[str] = []

    async def handle(message: Probe) -> None:
        await release.wait()  # hold the first message: nothing is committed meanwhile
        handled.append(message.message_id)

    consumer = KafkaBus(kafka_bootstrap, client_id="lag-consumer", topics=(TOPIC,), lag_interval_s=0.2)
    consumer.subscribe(Probe, handle, group=TOPIC.consumer_group)
    producer = KafkaBus(kafka_bootstrap, client_id="lag-producer", topics=(TOPIC,))
    await producer.start()
    await consumer.start()
    try:
        for i in range(5):
            await producer.publish(Probe(request_id=f"req-{i}", session_id="s", user_id="u"))
        await until_lag_is(5)
        assert await committed_by_kafka(kafka_bootstrap) == 0  # the broker's view agrees: nothing committed
        release.set()
        await until_lag_is(0)
        assert len(handled) == 5
    finally:
        await consumer.stop()
        await producer.stop()
