"""The gateway's SSE response hands each frame straight to the server when it has no send
timeout (no cancel scope a frame), and keeps sse-starlette's bound when it has one. Should
sse-starlette send its frames another way, the first test fails rather than the saving
going quietly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sse_starlette import sse
from starlette.types import Message

from agent_gateway.event_stream import EventStream

SCOPE = {"type": "http", "method": "POST", "path": "/", "headers": []}


async def frames() -> AsyncIterator[dict[str, str]]:
    for n in range(3):
        yield {"data": f"token {n}"}


async def stream(response: EventStream) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        await asyncio.Event().wait()  # the client stays
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await response(SCOPE, receive, send)
    return sent


def scopes_entered(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    entered: list[Any] = []
    move_on_after = sse.anyio.move_on_after

    def counting(delay: float | None, *args: Any, **kwargs: Any) -> Any:
        entered.append(delay)
        return move_on_after(delay, *args, **kwargs)

    monkeypatch.setattr(sse.anyio, "move_on_after", counting)
    return entered


async def test_without_a_send_timeout_the_frames_go_out_with_no_scope_around_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entered = scopes_entered(monkeypatch)
    sent = await stream(EventStream(frames(), ping=0))
    bodies = [m["body"] for m in sent if m["type"] == "http.response.body" and m["body"]]
    assert bodies == [f"data: token {n}\r\n\r\n".encode() for n in range(3)]
    assert None not in entered  # sse-starlette's per-frame scope (a None delay) never entered


async def test_with_a_send_timeout_each_frame_keeps_sse_starlette_s_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    entered = scopes_entered(monkeypatch)
    await stream(EventStream(frames(), ping=0, send_timeout=5.0))
    assert entered.count(5.0) >= 3
