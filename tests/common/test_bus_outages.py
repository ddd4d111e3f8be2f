"""The bus through real outages, on a Redis and a Kafka broker of this module's own
(they are stopped and started here): a handler that needs Redis rides through Redis
being away for 2 s and nothing is dead-lettered; publishing rides through a broker
restart; a broker away for longer than `BUS_RIDE_THROUGH_S` fails a publish with
`bus_unavailable` at the bound."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from agent_common.bus.kafka import KafkaBus
from agent_common.messages import DeadLetter
from agent_common.resilience import OutageTooLong
from tests.contracts.bus import CONTRACT_TOPIC, Note, note
from tests.support.services import (
    KafkaServer,
    RedisServer,
    ServiceUnavailable,
    require_service,
    start_kafka,
    start_redis,
)

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    try:
        server = start_redis(tmp_path_factory.mktemp("bus-outage-redis"))
    except ServiceUnavailable as exc:
        require_service("Redis", str(exc))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaServer]:
    try:
        server = start_kafka(tmp_path_factory.mktemp("bus-outage-kafka"))
    except ServiceUnavailable as exc:
        require_service("Kafka", str(exc))
    yield server
    server.stop()


@pytest.fixture
async def redis(own_redis: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(own_redis.url, socket_timeout=1, socket_connect_timeout=1)
    yield client
    await client.aclose()


def parked_by(bus: KafkaBus, monkeypatch: pytest.MonkeyPatch) -> list[DeadLetter]:
    letters: list[DeadLetter] = []

    async def park(letter: DeadLetter) -> None:
        letters.append(letter)

    monkeypatch.setattr(bus, "park", park)
    return letters


async def test_a_handler_needing_redis_rides_through_two_seconds_without_it_and_nothing_is_parked(
    kafka_bootstrap: str, own_redis: RedisServer, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    session, group = f"redis-gone-{uuid.uuid4().hex[:8]}", f"redis-gone-{uuid.uuid4().hex[:8]}"
    bus = KafkaBus(kafka_bootstrap, client_id="bus-outage", topics=(CONTRACT_TOPIC,))
    parked = parked_by(bus, monkeypatch)
    attempts = 0
    handled = asyncio.Event()

    async def count_in_redis(msg: Note) -> None:  # like the orchestrator's claim: Redis first
        nonlocal attempts
        if msg.session_id != session:
            return
        attempts += 1
        await redis.incr(f"handled:{session}")
        handled.set()

    bus.subscribe(Note, count_in_redis, group=group)
    await bus.start()
    try:
        own_redis.proc.kill()  # away before the message comes, back 2 s later
        own_redis.proc.wait(10)
        await bus.publish(note(session, 1))
        await asyncio.sleep(2.0)
        await asyncio.to_thread(own_redis.restart)
        await asyncio.wait_for(handled.wait(), 30)
    finally:
        await bus.stop()
    assert attempts > 1 and parked == []
    assert await redis.get(f"handled:{session}") == b"1"


async def test_publishing_rides_through_a_broker_restart(own_kafka: KafkaServer) -> None:
    bus = KafkaBus(own_kafka.bootstrap, client_id="bus-outage", topics=(CONTRACT_TOPIC,), ride_through_s=30)
    session = f"restart-{uuid.uuid4().hex[:8]}"
    got: list[str] = []
    all_in = asyncio.Event()

    async def collect(msg: Note) -> None:
        if msg.session_id == session:
            got.append(msg.text)
            if len(got) >= 20:
                all_in.set()

    bus.subscribe(Note, collect, group=f"restart-{session}")
    await bus.start()
    try:
        await bus.publish(note(session, 0))
        restarting = asyncio.create_task(asyncio.to_thread(own_kafka.restart))
        started = time.monotonic()
        for n in range(1, 20):  # one every 0.5 s across the restart, each acknowledged before the next
            await bus.publish(note(session, n))
            await asyncio.sleep(0.5)
        await restarting
        print(f"restart and publishes took {time.monotonic() - started:.1f} s")
        await asyncio.wait_for(all_in.wait(), 60)
    finally:
        await bus.stop()
    assert sorted(set(got), key=int) == [str(n) for n in range(20)]  # each published once acknowledged


async def test_a_publish_with_the_broker_away_past_the_bound_fails_with_bus_unavailable(
    own_kafka: KafkaServer,
) -> None:
    bus = KafkaBus(own_kafka.bootstrap, client_id="bus-outage", topics=(CONTRACT_TOPIC,), ride_through_s=1.5)
    await bus.start()
    try:
        await bus.publish(note("away", 0))  # the topic's metadata known, as a running service has it
        await asyncio.to_thread(own_kafka.stop)
        started = time.monotonic()
        with pytest.raises(OutageTooLong) as caught:
            await bus.publish(note("away", 1))
        took = time.monotonic() - started
    finally:
        await asyncio.to_thread(own_kafka.restart)
        await bus.stop()
    assert caught.value.info.code.value == "INFRA_UNAVAILABLE"
    assert caught.value.info.details["reason"] == "bus_unavailable"
    assert 1.5 <= took < 4, took
