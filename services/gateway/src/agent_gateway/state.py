"""The app's shared objects (set up in `app.py`'s lifespan) as FastAPI dependencies.

Each is `async def` on purpose: FastAPI runs a plain `def` dependency on a worker
thread, a thread hop on every request for an attribute read.
"""

from __future__ import annotations

from fastapi import Request

from agent_common.bus import Bus
from agent_common.sessions import SessionStore
from agent_gateway.ownership import Ownership
from agent_gateway.reindex_board import ReindexBoard
from agent_gateway.runs import RunClient


async def run_client(request: Request) -> RunClient:
    found: RunClient = request.app.state.run_client
    return found


async def ownership(request: Request) -> Ownership:
    found: Ownership = request.app.state.ownership
    return found


async def session_store(request: Request) -> SessionStore:
    found: SessionStore = request.app.state.sessions
    return found


async def reindex_board(request: Request) -> ReindexBoard:
    found: ReindexBoard = request.app.state.reindex_board
    return found


async def bus(request: Request) -> Bus:
    found: Bus = request.app.state.bus
    return found
