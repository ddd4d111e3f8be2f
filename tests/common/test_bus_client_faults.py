"""The Kafka producer dying of an error inside the client, on a real broker.

aiokafka's sender task ends on any error it does not expect, and the producer then fails
every send for good while pings still pass. It happened in the chaos tier's broker cut:
uvloop's transport raised `RuntimeError` writing on a connection the cut had closed, and
every publish after it failed. Whatever the error, the bus replaces the dead producer on
the next publish or ping, counts it, and sends the publish that found it dead again: no
publish is lost to it. The same death twice in one publish is raised, not ridden through.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka.errors import KafkaError
from prometheus_client import REGISTRY

from agent_common.bus.kafka import KafkaBus
from agent_common.bus.kafka_client_deaths import sender_failure
from tests.contracts.bus import CONTRACT_TOPIC, Note, note
from tests.support.kafka_client_faults import Deaths, Received

pytestmark = pytest.mark.kafka


def client_faults() -> float:
    return REGISTRY.get_sample_value("bus_client_faults_total", {"client": "producer"}) or 0.0


@pytest.fixture
def deaths(monkeypatch: pytest.MonkeyPatch) -> Deaths:
    return Deaths("ProduceRequest").install(monkeypatch)


@pytest.fixture
async def session() -> str:
    return f"producer-death-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def received(session: str) -> Received:
    return Received(session)


@pytest.fixture
async def bus(kafka_bootstrap: str, received: Received, session: str) -> AsyncIterator[KafkaBus]:
    bus = KafkaBus(kafka_bootstrap, client_id="producer-death", topics=(CONTRACT_TOPIC,), ride_through_s=5)
    bus.subscribe(Note, received, group=f"g-{session}")
    await bus.start()
    await bus.publish(note(session, 0))  # a producer that has sent, as a running service's has
    await received.at_least(1)
    yield bus
    await bus.stop()


async def test_a_publish_whose_producer_dies_under_it_is_delivered_and_the_producer_replaced(
    bus: KafkaBus, deaths: Deaths, received: Received, session: str
) -> None:
    before = client_faults()
    deaths.left = 1
    await bus.publish(note(session, 1))
    assert client_faults() == before + 1
    for n in range(2, 5):  # the new producer goes on sending
        await bus.publish(note(session, n))
    assert await received.at_least(5) == ["0", "1", "2", "3", "4"]
    assert sender_failure(bus._broker) is None


async def test_many_publishes_finding_the_producer_dead_replace_it_once_and_are_all_delivered(
    bus: KafkaBus, deaths: Deaths, received: Received, session: str
) -> None:
    before = client_faults()
    deaths.left = 1
    await asyncio.gather(*(bus.publish(note(session, n)) for n in range(1, 31)))
    assert client_faults() == before + 1
    assert await received.at_least(31) == [str(n) for n in range(31)]


async def test_the_same_death_twice_in_one_publish_is_raised_and_the_next_publish_goes_through(
    bus: KafkaBus, deaths: Deaths, received: Received, session: str
) -> None:
    before = client_faults()
    deaths.left = 2
    with pytest.raises(KafkaError):
        await bus.publish(note(session, 1))
    await bus.publish(note(session, 2))  # the second dead producer replaced in turn
    assert client_faults() == before + 2
    assert "2" in await received.at_least(2)


async def kill_the_sender(bus: KafkaBus, deaths: Deaths, session: str) -> None:
    deaths.left = 1
    with pytest.raises(KafkaError):  # a send past the bus, as aiokafka's own would fail it
        await bus._broker.publish(note(session, 1).to_bytes(), topic=CONTRACT_TOPIC.name, key=session.encode())


async def kill_the_metadata_refresh(bus: KafkaBus, deaths: Deaths, session: str) -> None:
    producer = bus._broker.config.producer._producer.producer
    deaths.kind, deaths.left = "MetadataRequest", 1
    producer.client.force_metadata_update()  # what the refresh's timer does every five minutes
    async with asyncio.timeout(10):
        while sender_failure(bus._broker) is None:  # noqa: ASYNC110  # aiokafka's task ends unannounced
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("kill", [kill_the_sender, kill_the_metadata_refresh], ids=["sender", "metadata-refresh"])
async def test_a_ping_finds_a_dead_producer_and_replaces_it(
    bus: KafkaBus,
    deaths: Deaths,
    received: Received,
    session: str,
    kill: Callable[[KafkaBus, Deaths, str], Awaitable[None]],
) -> None:
    await kill(bus, deaths, session)
    assert sender_failure(bus._broker) is not None
    before = client_faults()
    assert await bus.ping()  # one death, one replacement: stopping the dead producer raises nothing
    assert client_faults() == before + 1
    assert sender_failure(bus._broker) is None
    await bus.publish(note(session, 2))
    assert "2" in await received.at_least(2)
