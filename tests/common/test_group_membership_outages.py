"""A broker outage under the ride-through bound does not cost a consumer its place in the
group. Were the group to drop the member, it would rejoin, its partitions would be handed
out again, and every message it had fetched but not committed would be handled a second
time, late: a tool call run twice, 15 s after the broker came back. And a consumer that dies
inside the client during a cut is replaced as soon as the broker is back, not at the end of
its session.

The broker sits behind a fault proxy (it advertises the proxy's port). Each cut begins just
before the member's next heartbeat is due, the worst moment: the gap the group sees is the
wait for that heartbeat, the cut, and the client's recovery after it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY

from agent_common.bus.kafka import KafkaBus
from agent_common.bus.kafka_consumer import HEARTBEAT_INTERVAL_MS, session_timeout_ms
from agent_common.bus.kafka_rejoin import member_client_id
from tests.contracts.bus import CONTRACT_TOPIC, Note, note
from tests.support.fault_proxy import FaultProxy, running_in_thread
from tests.support.kafka_client_faults import kill_metadata_refresh
from tests.support.kafka_groups import settled_members
from tests.support.services import KafkaServer, kafka_of_its_own
from tests.support.web import free_tcp_port

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

BOUND_S = 5.0  # BUS_RIDE_THROUGH_S's default
CUT_S = 4.5  # under the bound
HANDLING_S = 1.0  # each message's handler: some are in flight, some queued, when the cut begins


class Broker:
    def __init__(self, server: KafkaServer, proxy: FaultProxy) -> None:
        self.server, self.proxy = server, proxy


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    proxy_port = free_tcp_port()
    data_dir: Path = tmp_path_factory.mktemp("membership-kafka")
    with (
        kafka_of_its_own(data_dir, advertised_port=proxy_port) as server,
        running_in_thread(FaultProxy("127.0.0.1", server.broker_port, port=proxy_port)) as proxy,
    ):
        yield Broker(server, proxy)


class GroupLog(logging.Handler):
    """What aiokafka's group coordinator says: when it heartbeats, and whether it gave partitions up."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.heartbeats: list[float] = []
        self.revocations: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("Heartbeat: "):
            self.heartbeats.append(time.monotonic())
        elif text.startswith("Revoking previously assigned partitions") and "set()" not in text:
            self.revocations.append(text)


@pytest.fixture
def group_log() -> Iterator[GroupLog]:
    logger = logging.getLogger("aiokafka.consumer.group_coordinator")
    handler, level = GroupLog(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_a_broker_cut_under_the_bound_keeps_the_member_and_handles_each_message_once(
    broker: Broker, group_log: GroupLog
) -> None:
    run = uuid.uuid4().hex[:8]
    handled: Counter[str] = Counter()

    async def handle(msg: Note) -> None:
        if msg.session_id.endswith(run):
            handled[msg.request_id] += 1
            await asyncio.sleep(HANDLING_S)

    consumer = KafkaBus(broker.proxy.address, client_id=f"member-{run}", ride_through_s=BOUND_S)
    consumer.subscribe(Note, handle, group=f"{CONTRACT_TOPIC.consumer_group}-{run}", concurrency=8)
    # Published straight to the broker, past the proxy: only the member is cut off.
    publisher = KafkaBus(broker.server.bootstrap, client_id=f"publisher-{run}", ride_through_s=BOUND_S)
    await publisher.start()
    await consumer.start()
    try:
        sent: list[str] = []

        async def publish(batch: int, count: int) -> None:
            for n in range(count):
                msg = note(f"s{n}-{batch}-{run}", n)
                sent.append(msg.request_id)
                await publisher.publish(msg)

        await publish(0, 1)
        await wait_for(lambda: len(handled) == 1, 30, "the member never joined and handled a message")
        for batch in (1, 2):
            await publish(batch, 12)
            # The next heartbeat is due HEARTBEAT_INTERVAL after the last: cut just before it.
            last = group_log.heartbeats[-1] if group_log.heartbeats else time.monotonic()
            await asyncio.sleep(max(0.0, last + HEARTBEAT_INTERVAL_MS / 1000 - 0.3 - time.monotonic()))
            broker.proxy.cut()
            await asyncio.sleep(CUT_S)
            broker.proxy.heal()
            await wait_for(lambda: set(sent) <= set(handled), 60, "messages never handled after the cut")
        # Whatever was fetched but not committed would come back only after a while.
        await asyncio.sleep(3)
    finally:
        await consumer.stop()
        await publisher.stop()

    twice = {request_id: n for request_id, n in handled.items() if n > 1}
    assert not group_log.revocations, f"the group took the member's partitions away: {group_log.revocations}"
    assert not twice, f"handled more than once: {twice}"


# The chaos tier's ride-through: a group session of 45 s, which a dead member left in the group
# would hold its successor (and every other member's rebalance) out for.
LONG_BOUND_S = 30.0
BACK_WITHIN_S = 15.0  # after the broker is back: well inside that session


async def test_a_consumer_dead_in_a_cut_with_a_commit_waiting_is_replaced_once_the_broker_is_back(
    broker: Broker,
) -> None:
    run = uuid.uuid4().hex[:8]
    group = f"{CONTRACT_TOPIC.consumer_group}-dead-{run}"
    handled: list[str] = []
    in_handler, release = asyncio.Event(), asyncio.Event()

    async def handle(msg: Note) -> None:
        if not msg.session_id.endswith(run):
            return
        if msg.text == "1":  # held until the cut has begun: its commit is made during the cut
            in_handler.set()
            await release.wait()
        handled.append(msg.text)

    # Named, as each replica is in production: its successor waits for its previous member to leave.
    consumer = KafkaBus(broker.proxy.address, client_id="dying", ride_through_s=LONG_BOUND_S, member_name="pod-0")
    consumer.subscribe(Note, handle, group=group)
    # The broker tells every client its proxy's address: the publisher is cut off too, and rides through.
    publisher = KafkaBus(broker.server.bootstrap, client_id=f"publisher-{run}", ride_through_s=LONG_BOUND_S)
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.server.bootstrap)
    await asyncio.gather(publisher.start(), consumer.start(), admin.start())
    faults_before = REGISTRY.get_sample_value("bus_client_faults_total", {"client": "consumer"}) or 0.0
    try:
        await publisher.publish(note(f"s-{run}", 0))
        await wait_for(lambda: handled == ["0"], 30, "the member never joined and handled a message")
        await publisher.publish(note(f"s-{run}", 1))
        async with asyncio.timeout(30):
            await in_handler.wait()
        [partitioned] = consumer._consumers
        broker.proxy.cut()
        kill_metadata_refresh(partitioned.consumer)  # as uvloop's transport did in a chaos run's cut
        release.set()  # handled: its offset's commit waits for the broker, on a client that is dead
        during = [asyncio.create_task(publisher.publish(note(f"s-{run}", n))) for n in (2, 3)]
        await asyncio.sleep(2.5)
        broker.proxy.heal()
        healed = time.monotonic()
        await asyncio.gather(*during)
        for n in (4, 5):
            await publisher.publish(note(f"s-{run}", n))
        await wait_for(lambda: {"1", "2", "3", "4", "5"} <= set(handled), 60, f"not handled: {handled}")
        back_after_s = time.monotonic() - healed
        client_id = member_client_id("dying", "pod-0", CONTRACT_TOPIC.name)
        members = await settled_members(admin, group, client_id)
    finally:
        await consumer.stop()
        await asyncio.gather(publisher.stop(), admin.close())

    session_s = session_timeout_ms(LONG_BOUND_S, 5000) / 1000
    assert back_after_s < BACK_WITHIN_S < session_s, (
        f"handling came back {back_after_s:.1f} s after the broker: the dead member was waited out"
    )
    assert REGISTRY.get_sample_value("bus_client_faults_total", {"client": "consumer"}) == faults_before + 1
    assert members == 1, "the dead member is still in the group beside its successor"


async def wait_for(condition, timeout_s: float, failure: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, failure
        await asyncio.sleep(0.1)
