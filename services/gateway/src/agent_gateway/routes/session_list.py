"""`GET /api/sessions`: the caller's own conversations, newest first, for the chat page's list.

Built from the owner records (`OwnerStore.owned`), so it shows exactly the sessions
`/api/sessions/{session_id}` would answer for this caller, and nobody else's; a session
whose turns expired is left out, as that route answers it 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from agent_gateway.admission import admitted_caller
from agent_gateway.auth import Caller
from agent_gateway.routes.chat import REFUSALS
from agent_gateway.state import OwnershipDep, SessionStoreDep

__all__ = ["SessionList", "SessionSummary", "router"]

router = APIRouter(prefix="/api")

TITLE_CHARS = 80


class SessionSummary(BaseModel):
    session_id: str
    title: str = Field(description=f"The earliest message the session keeps, cut to {TITLE_CHARS} characters.")
    turns: int = Field(description="How many turns the session keeps.")
    updated_at: str = Field(description="When its latest turn began (ISO 8601, UTC).")


class SessionList(BaseModel):
    sessions: list[SessionSummary]


def _title(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= TITLE_CHARS else flat[: TITLE_CHARS - 1] + "…"


@router.get("/sessions", response_model=SessionList, responses=REFUSALS)
async def list_sessions(
    caller: Annotated[Caller, Depends(admitted_caller)],
    owners: OwnershipDep,
    sessions: SessionStoreDep,
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many sessions.")] = 50,
) -> SessionList:
    """The caller's sessions that still hold turns, the most recently used first."""
    listed: list[SessionSummary] = []
    for owned in await owners.sessions(caller):
        turns = await sessions.history(owned.item_id)
        if not turns:
            continue
        updated = datetime.fromtimestamp(owned.claimed_at, UTC).isoformat(timespec="seconds")
        summary = SessionSummary(
            session_id=owned.item_id, title=_title(turns[0].user), turns=len(turns), updated_at=updated
        )
        listed.append(summary)
        if len(listed) == limit:
            break
    return SessionList(sessions=listed)
