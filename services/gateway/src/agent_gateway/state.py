"""The app's shared objects (set up in `app.py`'s lifespan) as FastAPI dependencies.

Each is `async def` on purpose: FastAPI runs a plain `def` dependency on a worker
thread, a thread hop on every request for an attribute read. The `...Dep` aliases
at the end declare each one's type once.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request

from agent_common.bus import Bus
from agent_common.sessions import SessionStore
from agent_gateway.ownership import Ownership
from agent_gateway.reindex_board import ReindexBoard
from agent_gateway.run_client import RunClient


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


# The same objects typed once, for routes to declare as parameters (`runs: RunClientDep`).
RunClientDep = Annotated[RunClient, Depends(run_client)]
OwnershipDep = Annotated[Ownership, Depends(ownership)]
SessionStoreDep = Annotated[SessionStore, Depends(session_store)]
ReindexBoardDep = Annotated[ReindexBoard, Depends(reindex_board)]
BusDep = Annotated[Bus, Depends(bus)]
