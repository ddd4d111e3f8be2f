"""The `StreamSlots` contract, run against every implementation (`test_stream_slots.py`)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Protocol

from agent_common.rate_limits import StreamSlots


class MakeStreamSlots(Protocol):
    def __call__(self, limit: int, lease_s: float) -> StreamSlots: ...


def new_user() -> str:
    return f"t/{uuid.uuid4().hex}"


class StreamSlotsContract:
    """Subclasses provide the `make_slots` fixture: a factory of the slots under test."""

    async def test_a_user_holds_at_most_the_limit(self, make_slots: MakeStreamSlots) -> None:
        slots = make_slots(2, 60)
        user = new_user()
        assert [await slots.acquire(user, f"s{n}") for n in range(3)] == [True, True, False]
        assert slots.limit == 2

    async def test_a_released_slot_is_free_again(self, make_slots: MakeStreamSlots) -> None:
        slots = make_slots(1, 60)
        user = new_user()
        assert await slots.acquire(user, "s1") is True
        await slots.release(user, "s1")
        assert await slots.acquire(user, "s2") is True

    async def test_users_are_counted_apart(self, make_slots: MakeStreamSlots) -> None:
        slots = make_slots(1, 60)
        assert await slots.acquire(new_user(), "s1") is True
        assert await slots.acquire(new_user(), "s1") is True

    async def test_a_slot_whose_lease_ran_out_is_free(self, make_slots: MakeStreamSlots) -> None:
        slots = make_slots(1, 1)  # leases are at least a second
        user = new_user()
        assert await slots.acquire(user, "held by a replica that died") is True
        assert await slots.acquire(user, "s2") is False
        await asyncio.sleep(1.1)
        assert await slots.acquire(user, "s2") is True

    async def test_releasing_an_unknown_stream_is_harmless(self, make_slots: MakeStreamSlots) -> None:
        slots = make_slots(1, 60)
        await slots.release(new_user(), "never held")
