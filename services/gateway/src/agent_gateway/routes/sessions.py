"""`/api/sessions/{session_id}`: a session's turns, for its owner only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from agent_common.errors import ErrorCode, ErrorInfo
from agent_common.ids import is_valid_id
from agent_common.security_events import SecurityEvent, SecurityReason, record_security_event
from agent_common.sessions import SessionStore
from agent_gateway.admission import admitted_caller
from agent_gateway.auth import Caller
from agent_gateway.errors import error_response
from agent_gateway.localized import first_language
from agent_gateway.ownership import NOT_FOUND, Ownership
from agent_gateway.routes.chat import REFUSALS
from agent_gateway.schemas import SessionResponse, SessionTurn
from agent_gateway.state import ownership, session_store

router = APIRouter(prefix="/api")


@router.get("/sessions/{session_id}", response_model=SessionResponse, responses=REFUSALS)
async def read_session(
    session_id: str,
    caller: Annotated[Caller, Depends(admitted_caller)],
    owners: Annotated[Ownership, Depends(ownership)],
    sessions: Annotated[SessionStore, Depends(session_store)],
    accept_language: Annotated[str | None, Header()] = None,
) -> SessionResponse | JSONResponse:
    """The session's turns, oldest first. Someone else's session is not found, exactly like one that never was."""
    not_found = error_response(ErrorInfo.of(ErrorCode.NOT_FOUND, NOT_FOUND.for_locale(first_language(accept_language))))
    if not is_valid_id(session_id):
        return not_found
    if not await owners.owns_session(session_id, caller):
        if await owners.session_owner(session_id) is not None:
            record_security_event(SecurityEvent.ACCESS_DENIED, SecurityReason.SESSION_NOT_OWNED)
        return not_found
    turns = await sessions.history(session_id)
    if not turns:
        return not_found
    return SessionResponse(
        session_id=session_id,
        turns=[
            SessionTurn(request_id=t.request_id, user=t.user, assistant=t.assistant, finish_reason=t.finish_reason)
            for t in turns
        ],
    )
