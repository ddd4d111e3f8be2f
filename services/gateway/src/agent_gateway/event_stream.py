"""The gateway's SSE response: sse-starlette's, each frame handed to the server as it is.

sse-starlette wraps every frame's send in an anyio cancel scope for its `send_timeout`,
even when there is none (ours: a slow client is bounded by the stream's keep-alive and
the run's deadline, not per frame); entering and leaving that scope, and finding which
async library runs it, was 3 % of a gateway's CPU at 50 streams. Without a send timeout
the frame goes straight to `send`; with one, sse-starlette's own path is taken.
"""

from __future__ import annotations

from sse_starlette import EventSourceResponse
from starlette.types import Message, Send


class EventStream(EventSourceResponse):
    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        if self.send_timeout is None:
            await send(message)
            return
        await super()._send_with_timeout(send, message)
