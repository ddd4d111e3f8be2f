"""A serving process's start-up objects are frozen out of the collector's full passes, and given back when it stops."""

from __future__ import annotations

import gc

from agent_common.start_up_heap import start_up_heap_frozen


async def test_start_up_objects_are_frozen_while_serving_and_collectable_after() -> None:
    made_at_start_up = [object() for _ in range(10)]
    async with start_up_heap_frozen():
        assert gc.get_freeze_count() >= len(made_at_start_up)
        # A full pass no longer walks them: they are not among what the collector tracks.
        assert not any(o is made_at_start_up for o in gc.get_objects())
    assert gc.get_freeze_count() == 0
    assert any(o is made_at_start_up for o in gc.get_objects())
