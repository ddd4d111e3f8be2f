"""Keep-alive comments on an SSE stream, sent only while its run is quiet.

Proxies with idle timeouts cut a stream on which nothing moves, so a stream that waits (the model
thinking, a tool running) gets a `: ping` comment every `GATEWAY_SSE_PING_S`. sse-starlette's own
`ping=` sends one on a timer however busy the stream is; here a stream of tokens carries none: each frame
notes when it went out, and one timer a ping interval looks whether the stream has been quiet
that long (a timeout per frame cost the gateway a timer handle for every token).

The run's frames are read by a task of their own and handed over through a one-slot queue: waiting
for the next frame with a timeout must never cancel the generator that makes them (it holds the
run's subscription and the client's stream slot), and that generator runs in one task throughout,
so its logging context and its clean-up stay where they began.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

Frame = dict[str, str]
PING: Frame = {"comment": "ping"}
# Timers may fire a little early (an event loop's clock resolution): a frame sent within this of a
# whole interval ago counts as an interval ago.
_TIMER_SLACK_S = 0.01


@dataclass(frozen=True)
class _Ended:
    error: Exception | None = None


class _QuietPings:
    """One timer a ping interval, not one a frame: a frame only notes when it went out, and the
    timer, when it comes, looks whether the stream has been quiet for a whole interval."""

    def __init__(self, queue: asyncio.Queue[Frame | _Ended], interval_s: float) -> None:
        self._queue = queue
        self._interval_s = interval_s
        self._loop = asyncio.get_running_loop()
        self.last_sent = self._loop.time()
        self._timer = self._loop.call_at(self.last_sent + interval_s, self._check) if interval_s else None

    def sent(self) -> None:
        self.last_sent = self._loop.time()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()  # lets go of the bound `_check`, and with it of this object
            self._timer = None

    def _check(self) -> None:
        now = self._loop.time()
        if now - self.last_sent < self._interval_s - _TIMER_SLACK_S:  # a frame went out meanwhile
            at = self.last_sent + self._interval_s
        else:
            if self._queue.empty():  # else a frame waits for a slow client: the stream is not idle
                self._queue.put_nowait(PING)
            at = now + self._interval_s
        self._timer = self._loop.call_at(at, self._check)


async def with_keepalive(frames: AsyncIterator[Frame], interval_s: float) -> AsyncIterator[Frame]:
    """`frames`, and a `PING` after every `interval_s` in which no frame came (none if it is 0)."""
    queue: asyncio.Queue[Frame | _Ended] = asyncio.Queue(maxsize=1)  # the client's pace, as without pings

    async def read() -> None:
        try:
            async with aclosing(frames):  # type: ignore[type-var]  # an async generator, closed in this task
                async for frame in frames:
                    await queue.put(frame)
        except Exception as exc:  # the consumer raises it, as if it had read the frames itself
            await queue.put(_Ended(exc))
            return
        await queue.put(_Ended())

    reader = asyncio.create_task(read(), name="sse-frames")
    pings = _QuietPings(queue, interval_s)
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _Ended):
                if item.error is not None:
                    raise item.error
                return
            pings.sent()
            yield item
    finally:
        pings.stop()
        reader.cancel()  # the client went away: the frames' own clean-up runs in their task
        with contextlib.suppress(asyncio.CancelledError):
            await reader
