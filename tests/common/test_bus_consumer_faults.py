"""The Kafka consumer dying of an error inside the client, on a real broker.

aiokafka's consumer ends for good when one of its background tasks meets an error it does
not expect (uvloop's transport raising `RuntimeError` on a write to a connection the broker
closed, aio-libs/aiokafka#1038). A dead heartbeat made every fetch after it raise, which
ended the fetch loop; a dead fetcher made every fetch raise a `KafkaError`, which the loop
took for a passing refusal and asked again, forever. Both left a ready process that handled
nothing. Whatever request the client is writing when it dies, the bus replaces the dead
consumer: the old one leaves its group, a new one joins, and every message published is
handled. What a commit dies of fails that commit alone: the next one covers it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY

from agent_common.bus.kafka import KafkaBus
from agent_common.bus.kafka_client_deaths import consumer_failure
from tests.contracts.bus import CONTRACT_TOPIC, Note, note
from tests.support.kafka_client_faults import Deaths, Received
from tests.support.kafka_groups import settled_members

pytestmark = pytest.mark.kafka

CLIENT_ID = "consumer-death"


def consumer_faults() -> float:
    return REGISTRY.get_sample_value("bus_client_faults_total", {"client": "consumer"}) or 0.0


@pytest.fixture
def deaths(monkeypatch: pytest.MonkeyPatch) -> Deaths:
    return Deaths().install(monkeypatch)


@pytest.fixture
def session() -> str:
    return f"consumer-death-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def received(session: str) -> Received:
    return Received(session)


@pytest.fixture
async def bus(kafka_bootstrap: str, received: Received, session: str) -> AsyncIterator[KafkaBus]:
    bus = KafkaBus(kafka_bootstrap, client_id=CLIENT_ID, topics=(CONTRACT_TOPIC,), ride_through_s=1)
    bus.subscribe(Note, received, group=f"g-{session}")
    await bus.start()
    await bus.publish(note(session, 0))  # a consumer that has joined and handled, as a running service's has
    await received.at_least(1)
    yield bus
    async with asyncio.timeout(30):
        await bus.stop()  # a dead consumer, replaced or not, stops too


def the_consumer(bus: KafkaBus) -> Any:
    [partitioned] = bus._consumers
    return partitioned.consumer


async def replaced(bus: KafkaBus, before: Any, timeout_s: float = 30.0) -> Any:
    async with asyncio.timeout(timeout_s):
        # aiokafka's tasks say nothing when they end: looked at until the new consumer is there.
        while (consumer := the_consumer(bus)) is before or consumer_failure(consumer) is not None:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    return consumer


# Every request the consumer's background tasks send while it runs: the heartbeat's, the
# fetcher's, and the metadata refresh's (every five minutes, or when a request finds the
# cluster changed; asked for here).
@pytest.mark.parametrize("kind", ["HeartbeatRequest", "FetchRequest", "MetadataRequest"])
async def test_a_consumer_dead_of_an_error_in_a_background_task_is_replaced_and_every_message_handled(
    bus: KafkaBus,
    deaths: Deaths,
    received: Received,
    session: str,
    kind: str,
    kafka_admin: AIOKafkaAdminClient,
) -> None:
    before, dying = consumer_faults(), the_consumer(bus)
    deaths.arm(kind)
    if kind == "MetadataRequest":
        dying._client.force_metadata_update()  # what the refresh's timer does
    async with asyncio.timeout(15):  # a heartbeat every 3 s, a fetch every second at most
        await deaths.spent.wait()
    for n in range(1, 6):  # published while it is dead, while it is replaced, and after
        await bus.publish(note(session, n))
        await asyncio.sleep(0.2)
    assert await received.at_least(6) == ["0", "1", "2", "3", "4", "5"]
    await replaced(bus, dying)
    assert consumer_faults() == before + 1
    # The dead member left the group on its way out: only the new one is in it, so its
    # partitions moved at once rather than at the end of its session.
    assert await settled_members(kafka_admin, f"g-{session}", f"{CLIENT_ID}") == 1


async def test_a_consumer_that_dies_again_at_once_is_replaced_again(
    bus: KafkaBus, deaths: Deaths, received: Received, session: str
) -> None:
    before = consumer_faults()
    deaths.arm("FetchRequest", times=3)  # the first consumer's next fetch, then each new one's first
    for n in range(1, 4):
        await bus.publish(note(session, n))
    assert await received.at_least(4) == ["0", "1", "2", "3"]
    assert consumer_faults() == before + 3
    assert consumer_failure(the_consumer(bus)) is None


async def test_a_commit_that_dies_loses_nothing_and_the_consumer_lives_on(
    bus: KafkaBus,
    deaths: Deaths,
    received: Received,
    session: str,
    caplog: pytest.LogCaptureFixture,
    kafka_bootstrap: str,
) -> None:
    before, living = consumer_faults(), the_consumer(bus)
    deaths.arm("OffsetCommitRequest")
    with caplog.at_level(logging.WARNING, logger="agent.bus"):
        for n in range(1, 6):
            await bus.publish(note(session, n))
            await asyncio.sleep(0.3)  # each handled and committed on its own
        assert await received.at_least(6) == ["0", "1", "2", "3", "4", "5"]
    assert deaths.left == 0
    assert any("offsets not committed" in record.getMessage() for record in caplog.records)
    # A commit's failure is not the consumer's death: the same consumer goes on.
    assert the_consumer(bus) is living and consumer_failure(living) is None
    assert consumer_faults() == before
    # The commits after it covered what it did not: a new member of the group starts past every note.
    await bus.stop()
    again = Received(session)
    second = KafkaBus(kafka_bootstrap, client_id=CLIENT_ID, topics=(CONTRACT_TOPIC,), ride_through_s=1)
    second.subscribe(Note, again, group=f"g-{session}")
    await second.start()
    try:
        await second.publish(note(session, 6))
        assert await again.at_least(1) == ["6"]
    finally:
        await second.stop()


async def test_anything_the_fetch_loop_does_not_expect_replaces_the_consumer_rather_than_ending_the_loop(
    bus: KafkaBus, received: Received, session: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, such an error ended the loop's task in silence: a ready process that handled nothing.
    before, failing = consumer_faults(), the_consumer(bus)
    getmany = type(failing).getmany

    async def fails_once(consumer: Any, *partitions: Any, timeout_ms: int = 0) -> Any:
        if consumer is failing:
            raise AssertionError("an invariant inside the client, broken")
        return await getmany(consumer, *partitions, timeout_ms=timeout_ms)

    monkeypatch.setattr(type(failing), "getmany", fails_once)
    for n in range(1, 4):
        await bus.publish(note(session, n))
    assert await received.at_least(4) == ["0", "1", "2", "3"]
    assert await replaced(bus, failing) is not failing
    assert consumer_faults() == before + 1
