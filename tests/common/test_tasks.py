"""Stopping a background task ends it, even one that lost its first cancellation."""

from __future__ import annotations

import asyncio

import pytest

from agent_common.tasks import stop_task


async def test_a_task_that_loses_its_cancellation_is_stopped_all_the_same() -> None:
    # As a lease's renewer did: a library turned the cancel into a timeout, and its retry went on.
    rounds = 0

    async def renewer() -> None:
        nonlocal rounds
        while True:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                if rounds == 0:
                    rounds += 1
                    continue  # the cancellation lost
                raise

    task = asyncio.create_task(renewer())
    await asyncio.sleep(0.01)
    stopping = asyncio.create_task(stop_task(task))
    await asyncio.wait({stopping}, timeout=5)
    try:
        assert stopping.done(), "stop_task waits forever on a task that lost its cancellation"
        assert task.cancelled() and rounds == 1
    finally:
        task.cancel()
        stopping.cancel()


async def test_a_task_that_failed_on_its_own_raises_its_error_on_stop() -> None:
    async def failing() -> None:
        raise ValueError("its own")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="its own"):
        await stop_task(task)


async def test_nothing_to_stop() -> None:
    await stop_task(None)
