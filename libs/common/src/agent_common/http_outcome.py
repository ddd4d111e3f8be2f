"""What became of an HTTP request, for its log line and its metrics: the status sent, or 499
when the client hung up before the answer was complete (nginx's "client closed request").

A client that goes away mid-body or mid-stream is not a server error: counting it as 500
would page for what a flaky phone network does. Nor is one that goes away once a stream's last
frame has reached it, before the response's own end: an SSE client closes as soon as it reads
the stream's ending (the openai SDK at `[DONE]`), and it was answered (`mark_answered`).
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

__all__ = ["CLIENT_CLOSED", "ResponseOutcome", "mark_answered"]

CLIENT_CLOSED = 499
_ANSWERED = "response_answered"  # in the request's `scope["state"]`


def mark_answered(scope: Scope) -> None:
    """The response's last frame has gone out: the client has its whole answer."""
    scope.setdefault("state", {})[_ANSWERED] = True


class ResponseOutcome:
    """Wraps a request's `receive` and `send`; `status` is read once the app has returned."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._state = scope.setdefault("state", {})  # shared with the layers inside, which mark it
        self._receive, self._send = receive, send
        self.sent_status: int | None = None
        self.complete = False
        self.client_left = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self.client_left = True
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.sent_status = message["status"]
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete = True
        try:
            await self._send(message)
        except OSError:
            self.client_left = True  # the connection is gone: nothing more can be sent
            raise

    @property
    def status(self) -> int:
        if self.client_left and not self.complete and not self._state.get(_ANSWERED):
            return CLIENT_CLOSED
        return self.sent_status or 500
