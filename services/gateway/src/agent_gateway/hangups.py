"""A JSON client that hangs up while it waits for its answer.

A streaming client's hang-up ends its SSE stream: the server notices it on the
next write. A client of `/api/chat` sends its body and then waits; nothing is
written to it until the whole answer is, so its hang-up would go unnoticed and
it would stay counted as hearing its run (the run-event channel's `audience`)
until the run ended. Watching the connection while the answer is awaited lets
the listener go with the client, so a run nobody hears stops its model call
after the resume window (`ORCHESTRATOR_RESUME_WINDOW_S`), as a streamed one does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.requests import Request

# nginx's status for a request its client closed before the answer: what a hung-up JSON client is logged with.
CLIENT_CLOSED_REQUEST = 499

T = TypeVar("T")


async def hung_up(request: Request) -> None:
    """Return when the client closes its connection (its body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        continue


async def unless_hung_up(request: Request, answer: Coroutine[Any, Any, T]) -> T | None:
    """`answer`'s result, or None when the client hung up first: `answer` is then cancelled,
    which closes its listener; the run itself goes on and ends on its own."""
    answering = asyncio.ensure_future(answer)
    watching = asyncio.ensure_future(hung_up(request))
    try:
        await asyncio.wait({answering, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (watching, answering):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    if answering.cancelled():
        return None
    return answering.result()
