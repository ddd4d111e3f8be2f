"""One deadline for a stream's reads: what a reader sees when it passes during a read,
between reads, or never; and that nobody else's cancellation is taken for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agent_common.stream_deadline import StreamDeadline


async def items(*values: str, then_wait: bool = True) -> AsyncIterator[str]:
    for value in values:
        yield value
    if then_wait:
        await asyncio.Event().wait()  # a stream that goes quiet


def due_in(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds


async def test_items_before_the_deadline_are_read_and_a_read_waiting_past_it_raises_timeout() -> None:
    stream = items("a", "b")
    with StreamDeadline(due_in(0.2)) as deadline:
        assert [await deadline.read(stream), await deadline.read(stream)] == ["a", "b"]
        with pytest.raises(TimeoutError):
            await deadline.read(stream)
        assert deadline.expired


async def test_a_deadline_passing_between_reads_cancels_nothing_and_the_next_read_raises() -> None:
    stream = items("a", "b")
    with StreamDeadline(due_in(0.05)) as deadline:
        assert await deadline.read(stream) == "a"
        await asyncio.sleep(0.15)  # the reader's own work (writing to its client, say): not cut off
        with pytest.raises(TimeoutError):
            await deadline.read(stream)


async def test_another_cancellation_during_a_read_stays_a_cancellation() -> None:
    stream = items()
    reading = asyncio.Event()

    async def reader() -> None:
        with StreamDeadline(due_in(30)) as deadline:
            reading.set()
            await deadline.read(stream)

    task = asyncio.create_task(reader())
    await reading.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_end_of_the_stream_is_the_end_and_no_timer_outlives_the_block() -> None:
    stream = items("only", then_wait=False)
    with StreamDeadline(due_in(0.05)) as deadline:
        assert await deadline.read(stream) == "only"
        with pytest.raises(StopAsyncIteration):
            await deadline.read(stream)
    await asyncio.sleep(0.1)  # past the deadline: this task is not cancelled by it
    assert not deadline.expired
