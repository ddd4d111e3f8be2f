"""`agent dead-letters list|replay` against a real broker: a message parked by a handler
that failed is listed, replayed to its topic (where the fixed handler takes it) once, and
letters left out by a filter keep waiting; `--dry-run` sends nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from functools import partial

import pytest

from agent_cli.dead_letter_topic import decode_offsets, encode_offsets
from agent_cli.main import main
from agent_common.bus import HandlerRetries
from agent_common.bus.kafka import KafkaBus
from tests.contracts.bus import CONTRACT_TOPIC, Note, note

pytestmark = pytest.mark.kafka

QUICK = HandlerRetries(backoff_s=0.01, backoff_max_s=0.05)


def agent(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    """Run `agent dead-letters ...`; its stdout lines."""
    capsys.readouterr()
    assert main(["dead-letters", *args]) == 0
    return capsys.readouterr().out.splitlines()


def wait_listed(capsys: pytest.CaptureFixture[str], group: str, request_id: str) -> list[str]:
    """The letter of `request_id` as `list` shows it, once parked (within 30 s)."""
    deadline = time.monotonic() + 30
    while not (lines := agent(capsys, "list", "--group", group, "--request-id", request_id)):
        assert time.monotonic() < deadline, f"{request_id} was never parked"
        time.sleep(0.5)
    return lines


def test_replayed_offsets_are_kept_as_ranges() -> None:
    assert encode_offsets([9, 3, 4, 5, 12, 13]) == "replayed:3-5,9,12-13"
    assert decode_offsets("replayed:3-5,9,12-13") == {3, 4, 5, 9, 12, 13}
    assert encode_offsets([]) == "" and decode_offsets("") == set()


async def test_a_parked_message_is_replayed_once_to_its_topic_and_the_others_keep_waiting(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUS_KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    run = uuid.uuid4().hex[:8]
    session, operators = f"replay-{run}", f"operators-{run}"
    first, second = note(session, 1), note(session, 2)
    broken = True
    handled: list[str] = []

    async def handle(msg: Note) -> None:
        if msg.session_id != session:
            return
        if broken:
            raise ValueError("a bug, fixed by the next deploy")
        handled.append(msg.text)

    bus = KafkaBus(kafka_bootstrap, client_id="replay-test", topics=(CONTRACT_TOPIC,), retries=QUICK)
    bus.subscribe(Note, handle, group=f"replay-{run}")
    await bus.start()
    try:
        await bus.publish(first)
        await bus.publish(second)
        listed = await asyncio.to_thread(wait_listed, capsys, operators, first.request_id)
        assert len(listed) == 1 and "\tcontract.notes\thandler_failed\t3\t" in listed[0], listed
        await asyncio.to_thread(wait_listed, capsys, operators, second.request_id)
        cli = partial(asyncio.to_thread, agent, capsys)

        broken = False  # the fix is deployed: replay the first one only, trying --dry-run before
        dry = await cli("replay", "--group", operators, "--request-id", first.request_id, "--dry-run")
        assert len(dry) == 1 and dry[0].startswith("would replay")
        await asyncio.sleep(2)
        assert handled == []  # a dry run sends nothing

        replayed = await asyncio.to_thread(
            agent, capsys, "replay", "--group", operators, "--request-id", first.request_id
        )
        assert len(replayed) == 1 and replayed[0].startswith("replayed")
        async with asyncio.timeout(30):
            while handled != ["1"]:  # noqa: ASYNC110
                await asyncio.sleep(0.1)

        again = await cli("replay", "--group", operators, "--request-id", first.request_id)
        assert again == []  # replayed once
        waiting = await asyncio.to_thread(
            agent, capsys, "list", "--group", operators, "--source-topic", "contract.notes"
        )
        assert [line for line in waiting if session in line or second.request_id in line]  # the second still waits
        assert not [line for line in waiting if first.request_id in line]

        await cli("replay", "--group", operators, "--request-id", second.request_id)
        async with asyncio.timeout(30):
            while handled != ["1", "2"]:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    finally:
        await bus.stop()
    assert handled == ["1", "2"]
