"""The `RunEventChannel` contract, run against every implementation (`test_run_event_channel.py`).

Redis-specific behaviour (the buffer's keys, reconnects, restarts, the group commit)
stays in `tests/redis`.
"""

from __future__ import annotations

import asyncio
import uuid

from agent_common.events import DoneEvent, TokenEvent
from agent_common.run_events import RunEventChannel


def new_rid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex}"


class RunEventChannelContract:
    """Subclasses provide the `channel` fixture: a started channel that both publishes and listens."""

    async def test_listener_sees_every_event_once_in_order_ending_at_done(self, channel: RunEventChannel) -> None:
        rid = new_rid("r1")
        async with channel.listen(rid) as events:
            for i in range(3):
                await channel.publish(TokenEvent(request_id=rid, text=str(i)))
            await channel.publish(DoneEvent(request_id=rid, session_id="s", answer="012", model="m"))
            received = [e async for e in events]
        assert [e.seq for e in received] == [1, 2, 3, 4]
        assert received[-1].type == "done"

    async def test_a_fresh_listener_sees_every_event_once_in_order_and_one_that_slipped_in_before_it(
        self, channel: RunEventChannel
    ) -> None:
        rid = new_rid("fresh")
        async with channel.listen(rid, fresh=True) as events:
            await channel.publish(TokenEvent(request_id=rid, text="a"))
            await channel.publish(DoneEvent(request_id=rid, session_id="s", answer="a", model="m"))
            assert [(e.type, e.seq) for e in [e async for e in events]] == [("token", 1), ("done", 2)]
        # The caller's word broken (an event before the subscription): it is still not lost.
        early = new_rid("early")
        await channel.publish(TokenEvent(request_id=early, text="a"))
        async with channel.listen(early, fresh=True) as events:
            await channel.publish(DoneEvent(request_id=early, session_id="s", answer="a", model="m"))
            assert [(e.type, e.seq) for e in [e async for e in events]] == [("token", 1), ("done", 2)]

    async def test_a_late_listener_is_replayed_what_it_missed_after_its_last_event_id(
        self, channel: RunEventChannel
    ) -> None:
        rid = new_rid("r2")
        for i in range(3):
            await channel.publish(TokenEvent(request_id=rid, text=str(i)))
        async with channel.listen(rid, after_seq=2) as events:
            await channel.publish(DoneEvent(request_id=rid, session_id="s", answer="", model="m"))
            received = [e async for e in events]
        assert [(e.type, e.seq) for e in received] == [("token", 3), ("done", 4)]

    async def test_replay_returns_the_buffered_events_after_a_sequence_number(self, channel: RunEventChannel) -> None:
        rid = new_rid("r3")
        stamped = [await channel.publish(TokenEvent(request_id=rid, text=str(i))) for i in range(4)]
        assert [e.seq for e in stamped] == [1, 2, 3, 4]
        assert [e.seq for e in await channel.replay(rid, after_seq=1)] == [2, 3, 4]
        assert await channel.replay(new_rid("unknown")) == []

    async def test_requests_are_numbered_apart(self, channel: RunEventChannel) -> None:
        a, b = new_rid("a"), new_rid("b")
        await channel.publish(TokenEvent(request_id=a, text="x"))
        assert (await channel.publish(TokenEvent(request_id=b, text="y"))).seq == 1

    async def test_ping(self, channel: RunEventChannel) -> None:
        assert await channel.ping() is True

    async def test_audience_is_who_hears_the_run_and_drops_to_nobody_when_its_listener_leaves(
        self, channel: RunEventChannel
    ) -> None:
        rid = new_rid("heard")
        assert await channel.audience(rid) == 0
        await channel.publish(TokenEvent(request_id=rid, text="a"))
        assert await channel.audience(rid) == 0  # published while nobody listened
        async with channel.listen(rid):
            assert await channel.audience(new_rid("other")) == 0
            await channel.publish(TokenEvent(request_id=rid, text="b"))
            assert await channel.audience(rid) == 1
        async with asyncio.timeout(5):  # Redis hears the listener's UNSUBSCRIBE on a connection of its own
            while True:
                await channel.publish(TokenEvent(request_id=rid, text="c"))
                if await channel.audience(rid) == 0:
                    break
                await asyncio.sleep(0.02)

    async def test_audience_of_a_run_this_channel_never_published_is_who_listens_now(
        self, channel: RunEventChannel
    ) -> None:
        rid = new_rid("elsewhere")
        async with channel.listen(rid):
            assert await channel.audience(rid) == 1
