"""A run's tokens on their way to the client, coalesced while a publish is in flight.

The first token is published at once. Tokens the model sends while that publish
is on its way go out together as the next event, and so on: no timer, so a
stream that keeps up adds no delay, and one that falls behind (a busy replica,
a slow Redis) sends fewer, larger events instead of queueing one per token.
Reading the model's stream never waits for a publish.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable


class TokenStream:
    def __init__(self, publish: Callable[[str], Awaitable[None]]) -> None:
        self._publish = publish
        self._pending: list[str] = []
        self._flusher: asyncio.Task[None] | None = None

    async def send(self, text: str) -> None:
        """Queue `text`; a failed earlier publish (Redis away, say) raises here."""
        if self._flusher is not None and self._flusher.done():
            self._flusher.result()
        self._pending.append(text)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
            # Let it take this token now: a model whose chunks are all buffered already would
            # otherwise have every token queued before the first publish began.
            await asyncio.sleep(0)

    async def drain(self) -> None:
        """Return once every queued token is published: before the run's next event, or its end."""
        if self._flusher is not None:
            await self._flusher

    def cancel(self) -> None:
        """The run is being cut off: publish nothing more."""
        if self._flusher is not None:
            self._flusher.cancel()

    async def _flush(self) -> None:
        while self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            await self._publish(text)


@contextlib.asynccontextmanager
async def token_stream(publish: Callable[[str], Awaitable[None]]) -> AsyncIterator[TokenStream]:
    """A `TokenStream` drained when the block ends, by an error too (the client sees every token
    before the error event), and cancelled with the block."""
    stream = TokenStream(publish)
    try:
        yield stream
    except asyncio.CancelledError:
        stream.cancel()
        raise
    except Exception:
        await stream.drain()  # should a publish have failed too (Redis away, say), that wins
        raise
    await stream.drain()
