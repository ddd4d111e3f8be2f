"""Keep-alive comments on an SSE stream, sent only while its run is quiet.

Proxies with idle timeouts cut a stream on which nothing moves, so a stream that waits (the model
thinking, a tool running) gets a `: ping` comment every `GATEWAY_SSE_PING_S`. sse-starlette's own
`ping=` sends one on a timer however busy the stream is; here the timer restarts with every frame,
so a stream of tokens carries none.

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


@dataclass(frozen=True)
class _Ended:
    error: Exception | None = None


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
    try:
        while True:
            try:
                async with asyncio.timeout(interval_s or None):
                    item = await queue.get()
            except TimeoutError:
                yield PING
                continue
            if isinstance(item, _Ended):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        reader.cancel()  # the client went away: the frames' own clean-up runs in their task
        with contextlib.suppress(asyncio.CancelledError):
            await reader
