"""The in-process bus's own behaviour: poison messages, retries, dead letters.

What every bus and run-event channel must do is `tests/contracts/`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from agent_common.bus import MemoryBus
from agent_common.events import TokenEvent
from agent_common.messages import ChatRequested
from agent_common.run_events import memory


def chat(session: str, n: int) -> ChatRequested:
    return ChatRequested(
        request_id=f"req_{session}_{n}", session_id=session, user_id="u", message=str(n), deadline_at=time.time() + 5
    )


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


async def test_the_embedded_event_channel_forgets_a_run_past_its_time_unless_someone_listens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(memory, "SWEEP_EVERY_S", 0.01)
    channel = memory.MemoryRunEventChannel(ttl_s=0.05)
    await channel.publish(TokenEvent(request_id="gone", text="a"))
    async with channel.listen("heard"):
        await channel.publish(TokenEvent(request_id="heard", text="b"))
        await asyncio.sleep(0.1)
        await channel.publish(TokenEvent(request_id="later", text="c"))  # a publish sweeps
        assert await channel.replay("gone") == []
        assert [e.seq for e in await channel.replay("heard")] == [1]
