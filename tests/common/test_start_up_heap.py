"""A serving process's start-up objects are frozen out of the collector's full passes, and given back when it stops;
its young generation is looked at less often while it serves."""

from __future__ import annotations

import gc

from agent_common.start_up_heap import YOUNG_OBJECTS, start_up_heap_frozen


async def test_start_up_objects_are_frozen_while_serving_and_collectable_after() -> None:
    made_at_start_up = [object() for _ in range(10)]
    async with start_up_heap_frozen():
        assert gc.get_freeze_count() >= len(made_at_start_up)
        # A full pass no longer walks them: they are not among what the collector tracks.
        assert not any(o is made_at_start_up for o in gc.get_objects())
    assert gc.get_freeze_count() == 0
    assert any(o is made_at_start_up for o in gc.get_objects())


async def test_the_young_generation_is_looked_at_less_often_while_serving_and_as_before_after() -> None:
    before = gc.get_threshold()
    async with start_up_heap_frozen():
        assert gc.get_threshold() == (max(YOUNG_OBJECTS, before[0]), *before[1:])
        assert gc.get_threshold()[0] > 700  # CPython's own
    assert gc.get_threshold() == before


async def test_a_collector_turned_off_stays_off() -> None:
    before = gc.get_threshold()
    gc.set_threshold(0)
    try:
        async with start_up_heap_frozen():
            assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)
