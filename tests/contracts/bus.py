"""The `Bus` contract, run against every implementation (`test_bus.py`): consumer groups
and per-key order. Dead letters and retries are each transport's own (`tests/common`)."""

from __future__ import annotations

import asyncio
import time
import uuid

from agent_common.bus import Bus
from agent_common.messages import ChatRequested


def chat(session: str, n: int) -> ChatRequested:
    return ChatRequested(
        request_id=f"req_{session}_{n}", session_id=session, user_id="u", message=str(n), deadline_at=time.time() + 5
    )


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
            async def handle(msg: ChatRequested) -> None:
                await asyncio.sleep(0)
                if msg.session_id not in sessions:
                    return  # another test's message on the shared topic
                seen[group].append((msg.session_id, msg.message))
                if all(len(v) == 40 for v in seen.values()):
                    done.set()

            return handle

        for group in groups:
            bus.subscribe(ChatRequested, handler(group), group=group)
        await bus.start()
        for n in range(10):
            for session in sessions:
                await bus.publish(chat(session, n))
        await asyncio.wait_for(done.wait(), self.delivery_timeout_s)
        await bus.stop()
        for group in seen.values():
            for session in sessions:
                assert [m for s, m in group if s == session] == [str(n) for n in range(10)]
