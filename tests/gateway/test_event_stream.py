"""The gateway's SSE response hands each frame straight to the server when it has no send
timeout (no cancel scope a frame), and keeps sse-starlette's bound when it has one. Should
sse-starlette send its frames another way, the first test fails rather than the saving
going quietly."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sse_starlette import sse
from starlette.types import Message

from agent_common.bus import MemoryBus
from agent_common.bus.kafka import KafkaBus
from agent_gateway.event_stream import IN_PROCESS_HEAD_HOLD_S, EventStream, head_hold_s

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


# The head held for the first frame (`head_hold_s`).


async def held_stream(
    response: EventStream, *, leave_after: asyncio.Event | None = None, on_send: Any = None
) -> list[Message]:
    """`response` served to a client that stays, or leaves once `leave_after` is set."""
    sent: list[Message] = []

    async def receive() -> Message:
        await (leave_after or asyncio.Event()).wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if on_send is not None:
            on_send(message)
        sent.append(message)

    await response(SCOPE, receive, send)
    return sent


@pytest.mark.parametrize(("hold_s", "sent_before_first_frame"), [(30.0, 0), (0.0, 1)])
async def test_a_held_head_waits_for_the_first_frame_and_one_not_held_goes_before_it(
    hold_s: float, sent_before_first_frame: int
) -> None:
    sent_when_made: list[int] = []
    sent: list[Message] = []

    async def noting() -> AsyncIterator[dict[str, str]]:
        sent_when_made.append(len(sent))
        yield {"data": "token 0"}
        yield {"data": "token 1"}

    await held_stream(EventStream(noting(), ping=0, head_hold_s=hold_s), on_send=sent.append)
    # Held, the first frame was made before anything went out; not held, after the head had.
    assert sent_when_made == [sent_before_first_frame]
    assert [m["type"] for m in sent[:2]] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == b"data: token 0\r\n\r\n"


async def test_a_held_head_goes_out_when_the_hold_ends_though_no_frame_came() -> None:
    head_out = asyncio.Event()

    async def quiet_until_the_head() -> AsyncIterator[dict[str, str]]:
        await head_out.wait()  # held until a frame, the head would never come
        yield {"data": "token 0"}

    def on_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            head_out.set()

    async with asyncio.timeout(10):
        sent = await held_stream(EventStream(quiet_until_the_head(), ping=0, head_hold_s=0.05), on_send=on_send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body", "http.response.body"]
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"data: token 0\r\n\r\n"


async def test_a_held_stream_with_no_frame_sends_its_head_then_its_end() -> None:
    async def nothing() -> AsyncIterator[dict[str, str]]:
        return
        yield {}

    sent = await held_stream(EventStream(nothing(), ping=0, head_hold_s=30.0))
    assert [(m["type"], m.get("more_body")) for m in sent] == [
        ("http.response.start", None),
        ("http.response.body", False),
    ]


async def test_a_client_gone_during_the_hold_gets_no_head_and_leaves_nothing_running() -> None:
    gone = asyncio.Event()

    async def silent() -> AsyncIterator[dict[str, str]]:
        await asyncio.Event().wait()
        yield {}

    gone.set()
    sent = await held_stream(EventStream(silent(), ping=0, head_hold_s=0.05), leave_after=gone)
    await asyncio.sleep(0.15)  # past the hold: a timer left behind would have sent the head by now
    assert sent == []
    # Only sse-starlette's one watcher of the server's shutdown, kept for the event loop's life, stays.
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert [t.get_coro().__qualname__ for t in left] in ([], ["_shutdown_watcher"])  # type: ignore[union-attr]


async def test_a_head_the_hold_sent_to_a_client_that_had_gone_leaves_no_unretrieved_error() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    gone = asyncio.Event()

    async def silent() -> AsyncIterator[dict[str, str]]:
        await asyncio.Event().wait()
        yield {}

    async def refusing(message: Message) -> None:
        gone.set()  # the client hangs up as the head is written
        raise OSError("connection reset")

    async def receive() -> Message:
        await gone.wait()
        return {"type": "http.disconnect"}

    try:
        async with asyncio.timeout(10):
            await EventStream(silent(), ping=0, head_hold_s=0.02)(SCOPE, receive, refusing)
        await asyncio.sleep(0)
        gc.collect()  # an unretrieved task error is reported when the task is collected
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert reported == []


@pytest.mark.parametrize("hold_s", [0.0, 0.05, 30.0])
async def test_the_opening_frames_follow_the_head_before_any_other_frame(hold_s: float) -> None:
    sent: list[Message] = []

    async def later() -> AsyncIterator[dict[str, str]]:
        await asyncio.sleep(0.1)
        yield {"data": "token 0"}

    response = EventStream(later(), ping=0, head_hold_s=hold_s, opening=[{"data": "role"}])
    await held_stream(response, on_send=sent.append)
    assert [m.get("body") for m in sent] == [None, b"data: role\r\n\r\n", b"data: token 0\r\n\r\n", b""]
    assert sent[0]["type"] == "http.response.start"


def test_unset_the_head_is_held_only_where_the_runs_share_the_gateways_process() -> None:
    assert head_hold_s(None, MemoryBus()) == IN_PROCESS_HEAD_HOLD_S > 0
    assert head_hold_s(None, KafkaBus.__new__(KafkaBus)) == 0.0
    assert head_hold_s(0.0, MemoryBus()) == 0.0
    assert head_hold_s(0.5, KafkaBus.__new__(KafkaBus)) == 0.5
