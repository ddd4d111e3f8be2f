"""The gateway's SSE response: sse-starlette's, each frame handed to the server as it is, and the
response's head held a moment for the stream's first frame.

sse-starlette wraps every frame's send in an anyio cancel scope for its `send_timeout`,
even when there is none (ours: a slow client is bounded by the stream's keep-alive and
the run's deadline, not per frame); entering and leaving that scope, and finding which
async library runs it, was 3 % of a gateway's CPU at 50 streams. Without a send timeout
the frame goes straight to `send`; with one, sse-starlette's own path is taken.

The response's opening (its head, and `opening` frames that come before any of the run's, as
OpenAI's role chunk) is written with the first frame, or `head_hold_s` after the response
began, whichever comes first. Written at once, it went out while the run was still being handed
to its orchestrator: each write, and the client it woke on a machine's busy cores, stood in the
way of the model's call. Held, it goes out while the model thinks, or just before the answer's
first frame, and a client still has its status and headers within `head_hold_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from typing import Any

from sse_starlette import EventSourceResponse
from sse_starlette.event import ensure_bytes
from starlette.types import Message, Receive, Scope, Send

from agent_common.bus import Bus, MemoryBus
from agent_common.http_outcome import mark_answered

# Where a run shares the gateway's process: long enough for the run to reach its model call first
# (about 2 ms on a lone request), short beside any model's first token.
IN_PROCESS_HEAD_HOLD_S = 0.02


def head_hold_s(configured: float | None, bus: Bus) -> float:
    """The hold for the streams of a gateway on `bus`: the one configured, or, unset, a hold only where
    the runs are in this process. Beside orchestrators of their own the head's write overlaps the bus's
    hop already: held there, a lone request read the same (8.56 and 8.40 ms, six rounds each way)."""
    if configured is not None:
        return configured
    return IN_PROCESS_HEAD_HOLD_S if isinstance(bus, MemoryBus) else 0.0


class LastFrame(dict[str, str]):
    """A stream's ending: the frame after which the client has its whole answer."""


class EventStream(EventSourceResponse):
    # `status_code` named: FastAPI reads its default from the signature for the OpenAPI document.
    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        *,
        head_hold_s: float = 0.0,
        opening: Sequence[Mapping[str, str]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(content, status_code, **kwargs)
        self.head_hold_s = head_hold_s
        self.opening = [ensure_bytes(frame, self.sep) for frame in opening]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.body_iterator = _answered_after_last(self.body_iterator, scope)
        await super().__call__(scope, receive, send)

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        if self.send_timeout is None:
            await send(message)
            return
        await super()._send_with_timeout(send, message)

    async def _stream_response(self, send: Send) -> None:
        if self.head_hold_s <= 0 and not self.opening:
            await super()._stream_response(send)
            return
        held = _HeadHeld(send, self.head_hold_s, self.opening)
        try:
            await super()._stream_response(held)
        finally:
            held.close()


class _HeadHeld:
    """`send`, with `http.response.start` and the `opening` frames after it held until the next
    message or `hold_s`, whichever is first. Whatever sends them, they go out once, and before
    anything else."""

    def __init__(self, send: Send, hold_s: float, opening: list[bytes]) -> None:
        self._send = send
        self._hold_s = hold_s
        self._opening = opening
        self._head: Message | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._sending: asyncio.Future[None] | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start" and self._head is None and self._sending is None:
            self._head = message
            self._timer = asyncio.get_running_loop().call_later(self._hold_s, self._due)
            return
        if self._head is not None:
            head, self._head = self._head, None
            self._cancel_timer()
            await self._open(head)
        elif self._sending is not None:
            await self._sending  # the head the timer sent: done, or finishing
        await self._send(message)

    def close(self) -> None:
        """The stream is over (or cut off): no head goes out later, and nothing is left running."""
        self._cancel_timer()
        self._head = None
        if self._sending is not None:
            if self._sending.done():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    self._sending.result()  # a client gone before the head: its error was the stream's to see
            else:
                self._sending.cancel()

    def _due(self) -> None:
        self._timer = None
        if self._head is not None:
            head, self._head = self._head, None
            self._sending = asyncio.ensure_future(self._open(head))

    async def _open(self, head: Message) -> None:
        await self._send(head)
        for body in self._opening:
            await self._send({"type": "http.response.body", "body": body, "more_body": True})

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()  # lets go of the bound `_due`, and with it of this object
            self._timer = None


async def _answered_after_last(frames: AsyncIterable[Any], scope: Scope) -> AsyncIterator[Any]:
    """`frames`, the request marked answered once a `LastFrame` has gone out: sse-starlette asks
    for the next frame only when the last one's `send` has returned."""
    try:
        async for frame in frames:
            yield frame
            if isinstance(frame, LastFrame):
                mark_answered(scope)
    finally:
        aclose = getattr(frames, "aclose", None)
        if aclose is not None:
            await aclose()
