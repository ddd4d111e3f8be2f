"""A replica restarted after a crash waits for the member it left behind (`bus/kafka_rejoin.py`),
on the real broker: a member killed with SIGKILL is waited for until the group lets it go; a
group without one is joined at once; a live twin under the same name is waited for only up to
the bound; a broker that cannot be asked is no reason to stay out."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from agent_common.bus.kafka import KafkaBus, ensure_topics
from agent_common.bus.kafka_rejoin import MARGIN_S, member_client_id, wait_for_previous_member
from agent_common.settings import BusSettings
from tests.contracts.bus import CONTRACT_TOPIC, Note

pytestmark = pytest.mark.kafka

SESSION_S = 6.0  # the broker's least (`group.min.session.timeout.ms`)
WAITING = "this replica's previous member is still in its group"
LEFT = "the previous member has left: joining"
TWIN = "is BUS_KAFKA_MEMBER_NAME shared by two live replicas?"

# A member of `group` that lives until it is killed: what a crashed replica leaves behind.
MEMBER = """
import asyncio, sys
from aiokafka import AIOKafkaConsumer

async def main() -> None:
    bootstrap, topic, group, client_id = sys.argv[1:]
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, client_id=client_id,
        session_timeout_ms=6000, heartbeat_interval_ms=1000,
    )
    await consumer.start()
    while not consumer.assignment():
        await asyncio.sleep(0.1)
    print("joined", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.fixture
def group() -> str:
    return f"rejoin-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def member_killed(kafka_bootstrap: str, group: str) -> Iterator[str]:
    """The client id of a member of `group` that was SIGKILLed once it had its partitions."""
    asyncio.run(ensure_topics(kafka_bootstrap, (CONTRACT_TOPIC,)))
    client_id = member_client_id("orchestrator", "orchestrator-7f9c-x2", CONTRACT_TOPIC.name)
    command = [sys.executable, "-c", MEMBER, kafka_bootstrap, CONTRACT_TOPIC.name, group, client_id]
    member = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert member.stdout is not None and member.stdout.readline().strip() == "joined"
        member.kill()
        member.wait()
        yield client_id
    finally:
        if member.poll() is None:
            member.kill()


async def members(bootstrap: str, group: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
        return [member[1] for described in response.groups for member in described[5]]
    finally:
        await admin.close()


async def test_a_killed_members_successor_waits_until_the_group_lets_it_go(
    kafka_bootstrap: str, group: str, member_killed: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert await members(kafka_bootstrap, group) == [member_killed]  # still there: it never left
    with caplog.at_level(logging.INFO, logger="agent.bus"):
        waited = await wait_for_previous_member(kafka_bootstrap, group, member_killed, SESSION_S)
    assert member_killed not in await members(kafka_bootstrap, group)
    assert WAITING in caplog.text and LEFT in caplog.text and TWIN not in caplog.text, caplog.text
    assert waited > 1.0  # it did wait (the member was killed moments before) ...
    assert waited < SESSION_S + MARGIN_S  # ... and went on once the member was gone, not at the bound


async def test_a_group_without_its_previous_member_is_joined_at_once(
    kafka_bootstrap: str, group: str, member_killed: str, caplog: pytest.LogCaptureFixture
) -> None:
    other_replica = member_client_id("orchestrator", "orchestrator-7f9c-y3", CONTRACT_TOPIC.name)
    with caplog.at_level(logging.INFO, logger="agent.bus"):
        waited = await wait_for_previous_member(kafka_bootstrap, group, other_replica, SESSION_S)
        never_there = await wait_for_previous_member(kafka_bootstrap, f"{group}-new", member_killed, SESSION_S)
    assert WAITING not in caplog.text, caplog.text
    assert waited < SESSION_S / 2 and never_there < SESSION_S / 2


async def test_a_live_member_under_the_same_name_is_waited_for_only_up_to_the_bound(
    kafka_bootstrap: str, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    await ensure_topics(kafka_bootstrap, (CONTRACT_TOPIC,))
    client_id = member_client_id("tool-runner", "tool-runner-0", CONTRACT_TOPIC.name)
    twin = AIOKafkaConsumer(CONTRACT_TOPIC.name, bootstrap_servers=kafka_bootstrap, group_id=group, client_id=client_id)
    await twin.start()
    try:
        async with asyncio.timeout(30):
            while client_id not in await members(kafka_bootstrap, group):  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        with caplog.at_level(logging.INFO, logger="agent.bus"):
            waited = await wait_for_previous_member(kafka_bootstrap, group, client_id, 0.5)
    finally:
        await twin.stop()
    assert TWIN in caplog.text, caplog.text
    assert waited >= 0.5 + MARGIN_S - 0.1


async def test_a_broker_that_cannot_be_asked_is_no_reason_to_stay_out(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="agent.bus"):
        waited = await wait_for_previous_member("127.0.0.1:9", "any", "orchestrator:pod:chat.requests", SESSION_S)
    assert "could not ask who is in the group; joining at once" in caplog.text, caplog.text
    assert waited < SESSION_S


def test_the_member_name_goes_in_each_consumers_client_id_and_only_with_a_name() -> None:
    named = KafkaBus("127.0.0.1:9", client_id="orchestrator", member_name="orchestrator-7f9c-x2")
    named.subscribe(Note, _ignore, group="g")
    anonymous = KafkaBus("127.0.0.1:9", client_id="orchestrator")
    anonymous.subscribe(Note, _ignore, group="g")
    [with_name], [without] = named._consumers, anonymous._consumers
    assert with_name._options["client_id"] == f"orchestrator:orchestrator-7f9c-x2:{CONTRACT_TOPIC.name}"
    assert with_name._named and not without._named
    assert without._options["client_id"] == "orchestrator"


async def _ignore(_: Note) -> None:
    return None


@pytest.mark.parametrize("name", ["", "two words", "a/b", "x" * 201])
def test_a_member_name_kafka_or_a_log_line_would_mangle_is_refused(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUS_KAFKA_MEMBER_NAME", name)
    with pytest.raises(ValueError, match="kafka_member_name"):
        BusSettings()
