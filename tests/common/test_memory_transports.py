"""The embedded default's bus and run-event channel keep the distributed contracts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from agent_common.bus import MemoryBus
from agent_common.events import DoneEvent, TokenEvent
from agent_common.messages import ChatRequested
from agent_common.run_events import MemoryRunEventChannel


def chat(session: str, n: int) -> ChatRequested:
    return ChatRequested(
        request_id=f"req_{session}_{n}", session_id=session, user_id="u", message=str(n), deadline_at=time.time() + 5
    )


async def test_each_group_gets_every_message_and_a_session_keeps_its_order() -> None:
    bus = MemoryBus(partitions=4)
    seen: dict[str, list[tuple[str, str]]] = {"a": [], "b": []}
    done = asyncio.Event()

    def handler(group: str):  # type: ignore[no-untyped-def]
        async def handle(msg: ChatRequested) -> None:
            await asyncio.sleep(0)
            seen[group].append((msg.session_id, msg.message))
            if all(len(v) == 40 for v in seen.values()):
                done.set()

        return handle

    bus.subscribe(ChatRequested, handler("a"), group="a")
    bus.subscribe(ChatRequested, handler("b"), group="b")
    await bus.start()
    for n in range(10):
        for session in ("s1", "s2", "s3", "s4"):
            await bus.publish(chat(session, n))
    await asyncio.wait_for(done.wait(), 5)
    await bus.stop()
    for group in seen.values():
        for session in ("s1", "s2", "s3", "s4"):
            assert [m for s, m in group if s == session] == [str(n) for n in range(10)]


@pytest.mark.parametrize(
    ("raw", "reason", "encoding"),
    [
        (b"\xff\xfe not even text", "undecodable", "base64"),
        (b"{not json", "undecodable", "utf-8"),
        (b'{"not": "a chat"}', "invalid", "utf-8"),
    ],
)
async def test_a_poison_message_is_dead_lettered_and_the_next_one_handled(
    raw: bytes, reason: str, encoding: str
) -> None:
    bus = MemoryBus(partitions=1)
    got: list[str] = []
    bus.subscribe(ChatRequested, lambda m: _append(got, m), group="g")
    await bus.start()
    bus.inject("chat.requests", "s", raw)
    await bus.publish(chat("s", 1))
    await _until(lambda: bool(got))
    await bus.stop()
    assert got == ["1"]
    (letter,) = bus.dead_letters
    assert (letter.source_topic, letter.reason, letter.payload_encoding) == ("chat.requests", reason, encoding)
    assert letter.error and letter.attempts == 1


async def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered() -> None:
    bus = MemoryBus(partitions=1)
    attempts: list[str] = []
    got: list[str] = []

    async def handler(msg: ChatRequested) -> None:
        if msg.message == "poison":
            attempts.append(msg.message_id)
            raise ConnectionError("redis went away")
        got.append(msg.message)

    bus.subscribe(ChatRequested, handler, group="g")
    await bus.start()
    poison = ChatRequested(request_id="req_p", session_id="s", user_id="u", message="poison", deadline_at=9e9)
    await bus.publish(poison)
    await bus.publish(chat("s", 2))
    await _until(lambda: bool(got))
    await bus.stop()
    assert len(attempts) == 3 and got == ["2"]  # retried, then parked; the next message was not blocked
    (letter,) = bus.dead_letters
    assert letter.reason == "handler_failed" and letter.request_id == "req_p" and letter.attempts == 3
    assert "redis went away" in letter.error
    assert ChatRequested.model_validate_json(letter.payload) == poison  # what came, as it came: replayable


async def test_a_handler_that_fails_once_is_retried_and_nothing_is_dead_lettered() -> None:
    bus = MemoryBus(partitions=1)
    calls: list[int] = []

    async def handler(msg: ChatRequested) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("a blip")

    bus.subscribe(ChatRequested, handler, group="g")
    await bus.start()
    await bus.publish(chat("s", 1))
    await _until(lambda: len(calls) == 2)
    await bus.stop()
    assert bus.dead_letters == []


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - in-process workers: no event to await
            await asyncio.sleep(0.01)


async def _append(got: list[str], msg: ChatRequested) -> None:
    got.append(msg.message)


async def test_listener_sees_every_event_once_in_order_ending_at_done() -> None:
    channel = MemoryRunEventChannel()
    async with channel.listen("r1") as events:
        for i in range(3):
            await channel.publish(TokenEvent(request_id="r1", text=str(i)))
        await channel.publish(DoneEvent(request_id="r1", session_id="s", answer="012", model="m"))
        received = [e async for e in events]
    assert [e.seq for e in received] == [1, 2, 3, 4]
    assert received[-1].type == "done"


async def test_a_late_listener_is_replayed_what_it_missed_after_its_last_event_id() -> None:
    channel = MemoryRunEventChannel()
    for i in range(3):
        await channel.publish(TokenEvent(request_id="r2", text=str(i)))
    async with channel.listen("r2", after_seq=2) as events:
        await channel.publish(DoneEvent(request_id="r2", session_id="s", answer="", model="m"))
        received = [e async for e in events]
    assert [(e.type, e.seq) for e in received] == [("token", 3), ("done", 4)]
