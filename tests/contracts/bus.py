"""The `Bus` contract, run against every implementation (`test_bus.py`): consumer groups,
per-key order, and what a failing handler does to its message: an outage of Redis or the
broker holds it (retried, in order, never dead-lettered), a failure of its own parks it.
Undecodable bytes are each transport's own (`tests/common`, `tests/e2e`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import ClassVar

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from agent_common.bus import Bus, HandlerRetries
from agent_common.bus import base as bus_base
from agent_common.bus.metrics import DEAD_LETTERS, OUTAGES_PAST_BOUND
from agent_common.messages import BusMessage, DeadLetter
from agent_common.topics import Topic

# A topic of the contract's own: the platform's topics are read by the platforms other tests
# start on the same broker, which would take these messages for work (their consumers read a
# new topic from its start).
CONTRACT_TOPIC = Topic("contract.notes", partitions=4, consumer_group="contract")


class Note(BusMessage):
    """A message like a chat request: keyed by session, so one session's notes stay in order."""

    topic: ClassVar[str] = CONTRACT_TOPIC.name
    text: str

    def partition_key(self) -> str:
        return self.session_id


# Quick retries, and an outage bound of half a second, so a test can outlast it.
FAST_RETRIES = HandlerRetries(backoff_s=0.01, backoff_max_s=0.05, outage_bound_s=0.5)


def note(session: str, n: int) -> Note:
    return Note(request_id=f"req_{session}_{n}", session_id=session, user_id="u", text=str(n))


class BusContract:
    """Subclasses provide the `bus` fixture: a bus not started yet, stopped by the test.

    A real broker's topic is shared with the rest of the test session, so each test
    uses sessions and consumer groups of its own and counts only its own messages."""

    delivery_timeout_s = 5.0
    # Long enough for a bus that took messages at start to have handled one.
    unready_s = 0.5

    @pytest.fixture
    def parked(self, bus: Bus, monkeypatch: pytest.MonkeyPatch) -> list[DeadLetter]:
        """What the bus parks from now on (kept here, not sent to the dead-letter topic)."""
        letters: list[DeadLetter] = []

        async def park(letter: DeadLetter) -> None:
            letters.append(letter)

        monkeypatch.setattr(bus, "park", park)
        return letters

    async def test_each_group_gets_every_message_and_a_session_keeps_its_order(self, bus: Bus) -> None:
        run = uuid.uuid4().hex[:8]
        sessions = [f"s{n}-{run}" for n in range(1, 5)]
        groups = [f"a-{run}", f"b-{run}"]
        seen: dict[str, list[tuple[str, str]]] = {group: [] for group in groups}
        done = asyncio.Event()

        def handler(group: str):  # type: ignore[no-untyped-def]
            async def handle(msg: Note) -> None:
                await asyncio.sleep(0)
                if msg.session_id not in sessions:
                    return  # an earlier run's message on the broker's topic
                seen[group].append((msg.session_id, msg.text))
                if all(len(v) == 40 for v in seen.values()):
                    done.set()

            return handle

        for group in groups:
            bus.subscribe(Note, handler(group), group=group)
        await bus.start()
        for n in range(10):
            for session in sessions:
                await bus.publish(note(session, n))
        await asyncio.wait_for(done.wait(), self.delivery_timeout_s)
        await bus.stop()
        for group in seen.values():
            for session in sessions:
                assert [m for s, m in group if s == session] == [str(n) for n in range(10)]

    async def test_a_handler_failing_for_an_outage_is_held_past_the_bound_then_handled_in_order(
        self, bus: Bus, parked: list[DeadLetter]
    ) -> None:
        session, group = f"outage-{uuid.uuid4().hex[:8]}", f"outage-{uuid.uuid4().hex[:8]}"
        redis_back_at: float | None = None  # three times the bound after the first delivery
        handled: list[str] = []
        failures = 0
        done = asyncio.Event()

        async def handle(msg: Note) -> None:
            nonlocal failures, redis_back_at
            if msg.session_id != session:
                return
            # Timed from the first delivery, not from the start: a loaded machine's group join can take longer.
            redis_back_at = redis_back_at or time.monotonic() + 1.5
            if time.monotonic() < redis_back_at:
                failures += 1
                raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
            handled.append(msg.text)
            if len(handled) == 2:
                done.set()

        past_bound = OUTAGES_PAST_BOUND.labels(CONTRACT_TOPIC.name, "redis")._value.get()
        bus.subscribe(Note, handle, group=group)
        await bus.start()
        try:
            await bus.publish(note(session, 1))
            await bus.publish(note(session, 2))
            await asyncio.wait_for(done.wait(), self.delivery_timeout_s + 5)
        finally:
            await bus.stop()
        assert handled == ["1", "2"]  # the first held its key's place: the second waited behind it
        assert failures > 3 and parked == []  # retried well past the poison limit, never dead-lettered
        assert OUTAGES_PAST_BOUND.labels(CONTRACT_TOPIC.name, "redis")._value.get() == past_bound + 1

    async def test_a_handler_failing_for_its_message_parks_it_and_the_next_is_handled(
        self, bus: Bus, parked: list[DeadLetter]
    ) -> None:
        session, group = f"poison-{uuid.uuid4().hex[:8]}", f"poison-{uuid.uuid4().hex[:8]}"
        attempts: list[str] = []
        handled = asyncio.Event()

        async def handle(msg: Note) -> None:
            if msg.session_id != session:
                return
            attempts.append(msg.text)
            if msg.text == "1":
                raise ValueError("no such thing as a 1")
            handled.set()

        counted = DEAD_LETTERS.labels(CONTRACT_TOPIC.name, "handler_failed")._value.get()
        bus.subscribe(Note, handle, group=group)
        await bus.start()
        try:
            await bus.publish(note(session, 1))
            await bus.publish(note(session, 2))
            await asyncio.wait_for(handled.wait(), self.delivery_timeout_s)
        finally:
            await bus.stop()
        assert attempts == ["1", "1", "1", "2"]
        (letter,) = parked
        assert (letter.source_topic, letter.reason, letter.attempts) == (CONTRACT_TOPIC.name, "handler_failed", 3)
        assert letter.request_id == f"req_{session}_1" and "ValueError" in letter.error
        assert DEAD_LETTERS.labels(CONTRACT_TOPIC.name, "handler_failed")._value.get() == counted + 1

    async def test_a_bus_told_to_wait_takes_nothing_before_its_process_is_ready_then_everything(
        self, bus: Bus, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(bus_base, "READY_POLL_S", 0.1)
        run = uuid.uuid4().hex[:8]
        session, group = f"gated-{run}", f"gated-{run}"
        ready, asked = False, 0
        seen: list[str] = []
        both = asyncio.Event()

        async def is_ready() -> bool:
            nonlocal asked
            asked += 1
            if asked == 2:
                raise ConnectionError("a check that fails is a no")
            return ready

        async def handle(msg: Note) -> None:
            if msg.session_id == session:
                seen.append(msg.text)
                if len(seen) == 2:
                    both.set()

        bus.consume_when(is_ready)
        bus.subscribe(Note, handle, group=group)
        await bus.start()
        try:
            await bus.publish(note(session, 1))  # publishing works at once
            await asyncio.sleep(self.unready_s)
            assert asked >= 3 and seen == [] and not await bus.consuming()
            ready = True
            await bus.publish(note(session, 2))
            await asyncio.wait_for(both.wait(), self.delivery_timeout_s)
            assert seen == ["1", "2"] and await bus.consuming()
        finally:
            await bus.stop()
        assert not await bus.consuming()

    async def test_a_bus_stopped_while_waiting_to_be_ready_stops_at_once_having_taken_nothing(
        self, bus: Bus, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(bus_base, "READY_POLL_S", 0.1)
        session = f"never-{uuid.uuid4().hex[:8]}"
        seen: list[Note] = []

        async def never() -> bool:
            return False

        async def handle(msg: Note) -> None:
            if msg.session_id == session:
                seen.append(msg)

        bus.consume_when(never)
        bus.subscribe(Note, handle, group=session)
        await bus.start()
        await bus.publish(note(session, 1))
        await asyncio.sleep(self.unready_s)
        started = time.monotonic()
        await bus.stop()
        assert time.monotonic() - started < 2 and seen == [] and not await bus.consuming()
