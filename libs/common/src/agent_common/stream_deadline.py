"""One deadline for a whole stream's reads, one timer for all of them.

`asyncio.timeout` around each read of a stream makes and cancels a timer per item: for a
run's events or a model's chunks, one per token of every stream (2-3 % of the gateway's
and the orchestrator's CPU under load). A stream's reads share one deadline, so one timer
serves them all. It cannot be one `asyncio.timeout` around the whole stream: the stream
is read from an async generator, which yields to its reader between items, and a timeout
firing then would cancel whatever the reader was doing instead.

Here the timer cancels the task only while it waits in `read`; fired between reads, it
makes the next `read` raise at once. Either way `read` raises `TimeoutError`, as
`asyncio.timeout` would; a cancellation from anywhere else passes through untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeVar

T = TypeVar("T")


class StreamDeadline:
    """Use as a context manager (the timer goes with it); `loop_time_at` is event-loop time."""

    def __init__(self, loop_time_at: float) -> None:
        self._at = loop_time_at
        self._timer: asyncio.TimerHandle | None = None
        self._reading: asyncio.Task[Any] | None = None  # the task waiting in `read`, if one is
        self._cancelled_reading = False
        self.expired = False

    def __enter__(self) -> StreamDeadline:
        self._timer = asyncio.get_running_loop().call_at(self._at, self._expire)
        return self

    def __exit__(self, *_: object) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _expire(self) -> None:
        self.expired = True
        if self._reading is not None:
            self._cancelled_reading = True
            self._reading.cancel()

    async def read(self, items: AsyncIterator[T]) -> T:
        """The next item of `items`; `TimeoutError` once the deadline has passed (and
        `StopAsyncIteration` at the end, as `anext`)."""
        if self.expired:
            raise TimeoutError
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a stream deadline is read from a task")
        cancelling = task.cancelling()  # cancellations already asked for are not ours
        self._reading = task
        try:
            return await anext(items)
        except asyncio.CancelledError:
            if self._cancelled_reading and task.uncancel() <= cancelling:
                raise TimeoutError from None
            raise
        finally:
            self._reading = None
