"""The `Bus` contract, run against every implementation (`test_bus.py`): consumer groups
and per-key order. Dead letters and retries are each transport's own (`tests/common`)."""

from __future__ import annotations

import asyncio
import time

from agent_common.bus import Bus
from agent_common.messages import ChatRequested


def chat(session: str, n: int) -> ChatRequested:
    return ChatRequested(
        request_id=f"req_{session}_{n}", session_id=session, user_id="u", message=str(n), deadline_at=time.time() + 5
    )


class BusContract:
    """Subclasses provide the `bus` fixture: a bus not started yet, stopped by the test."""

    async def test_each_group_gets_every_message_and_a_session_keeps_its_order(self, bus: Bus) -> None:
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
