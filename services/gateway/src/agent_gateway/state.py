"""The app's shared objects (set up in `app.py`'s lifespan) as FastAPI dependencies.

Each is `async def` on purpose: FastAPI runs a plain `def` dependency on a worker
thread, a thread hop on every request for an attribute read.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request


def _shared(attribute: str) -> Callable[[Request], Coroutine[Any, Any, Any]]:
    """The dependency that hands over `app.state.<attribute>` (routes declare its type with `Annotated`)."""

    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, attribute)

    dependency.__name__ = dependency.__qualname__ = attribute
    return dependency


run_client = _shared("run_client")  # RunClient
ownership = _shared("ownership")  # Ownership
session_store = _shared("sessions")  # SessionStore
reindex_board = _shared("reindex_board")  # ReindexBoard
bus = _shared("bus")  # Bus
