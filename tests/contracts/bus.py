"""The `Bus` contract, run against every implementation (`test_bus.py`): consumer groups
and per-key order. Dead letters and retries are each transport's own (`tests/common`)."""

from __future__ import annotations

import asyncio
import uuid
from typing import ClassVar

from agent_common.bus import Bus
from agent_common.messages import BusMessage
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


def note(session: str, n: int) -> Note:
    return Note(request_id=f"req_{session}_{n}", session_id=session, user_id="u", text=str(n))


class BusContract:
    """Subclasses provide the `bus` fixture: a bus not started yet, stopped by the test.

    A real broker's topic is shared with the rest of the test session, so each test
    uses sessions and consumer groups of its own and counts only its own messages."""

    delivery_timeout_s = 5.0

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
