"""`/api/chat` (the whole answer as JSON) and `/api/chat/stream` (Server-Sent Events)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response

from agent_common.errors import ErrorCode, ErrorInfo
from agent_common.events import DoneEvent, ErrorEvent, RunEvent, TokenEvent, is_terminal
from agent_common.ids import is_valid_id
from agent_common.logs import bind_ids
from agent_common.messages import ChatRequested
from agent_common.security_events import SecurityEvent, SecurityReason, record_security_event
from agent_gateway.admission import acquire_stream, admitted_caller, user_key
from agent_gateway.auth import Caller
from agent_gateway.errors import RUN_WITHOUT_ANSWER, error_response
from agent_gateway.event_stream import EventStream, LastFrame
from agent_gateway.hangups import CLIENT_CLOSED_REQUEST, unless_hung_up
from agent_gateway.keepalive import with_keepalive
from agent_gateway.localized import first_language
from agent_gateway.ownership import NOT_FOUND, Ownership
from agent_gateway.request_context import request_context
from agent_gateway.run_client import RunClient
from agent_gateway.schemas import ChatBody, ChatResponse, ErrorResponse
from agent_gateway.state import ownership, run_client
from agent_gateway.turns import admit_turn

log = logging.getLogger("agent.gateway")
router = APIRouter(prefix="/api")

REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 404, 413, 422, 429, 502, 503, 504)
}


def _locale(body: ChatBody, accept_language: str | None) -> str | None:
    return body.locale or first_language(accept_language)


@router.post("/chat", response_model=ChatResponse, responses=REFUSALS)
async def chat(
    body: ChatBody,
    request: Request,
    caller: Annotated[Caller, Depends(admitted_caller)],
    runs: Annotated[RunClient, Depends(run_client)],
    owners: Annotated[Ownership, Depends(ownership)],
    accept_language: Annotated[str | None, Header()] = None,
) -> ChatResponse | JSONResponse | Response:
    """Send a message and wait for the whole answer."""
    submitted = await admit_turn(body, request, caller, runs, owners, _locale(body, accept_language))
    with bind_ids(request_id=submitted.request_id, session_id=submitted.session_id, user_id=caller.user_id):
        answer = await unless_hung_up(request, _whole_answer(runs, submitted))
    # Nobody reads a hung-up client's answer: 499, as proxies log a client that closed first.
    return answer if answer is not None else Response(status_code=CLIENT_CLOSED_REQUEST)


async def _whole_answer(runs: RunClient, submitted: ChatRequested) -> ChatResponse | JSONResponse:
    partial: list[str] = []
    async with aclosing(await runs.submit(submitted)) as events:
        async for event in events:
            if isinstance(event, TokenEvent):
                partial.append(event.text)
            elif isinstance(event, DoneEvent):
                return ChatResponse.from_done(event)
            elif isinstance(event, ErrorEvent):
                # The platform's own infrastructure away (a 503): worth asking again shortly.
                unavailable = event.error.code is ErrorCode.INFRA_UNAVAILABLE
                return error_response(
                    event.error,
                    request_id=submitted.request_id,
                    session_id=submitted.session_id,
                    partial_answer="".join(partial) if event.partial else None,
                    fallback=event.fallback,
                    locale=submitted.locale,
                    headers={"Retry-After": str(runs.retry_after_s)} if unavailable else None,
                )
    info = ErrorInfo.of(ErrorCode.INTERNAL, RUN_WITHOUT_ANSWER.for_locale(submitted.locale))
    return error_response(info, request_id=submitted.request_id, locale=submitted.locale)


async def _frames(
    events: AsyncGenerator[RunEvent, None], release: Callable[[], Awaitable[None]], **ids: str | None
) -> AsyncIterator[dict[str, str]]:
    """A run's events as SSE frames, logged under `ids`; the stream's slot is released
    however the stream ends (done, error, or the client gone)."""
    try:
        with bind_ids(**ids):
            async with aclosing(events) as stream:
                async for event in stream:
                    frame = {"event": event.type, "id": str(event.seq), "data": event.sse_data()}
                    yield LastFrame(frame) if is_terminal(event) else frame
    finally:
        await release()


@router.post("/chat/stream", response_class=EventStream, responses=REFUSALS)
async def chat_stream(
    body: ChatBody,
    request: Request,
    caller: Annotated[Caller, Depends(admitted_caller)],
    runs: Annotated[RunClient, Depends(run_client)],
    owners: Annotated[Ownership, Depends(ownership)],
    accept_language: Annotated[str | None, Header()] = None,
) -> EventStream:
    """Send a message and receive the answer as Server-Sent Events (see docs/sse-events.md)."""
    submitted = await admit_turn(body, request, caller, runs, owners, _locale(body, accept_language))
    slots = await acquire_stream(request, caller, submitted.request_id)
    ids = {"request_id": submitted.request_id, "session_id": submitted.session_id, "user_id": caller.user_id}
    with bind_ids(**ids):
        events = await runs.submit(submitted)  # before the response: the run is on its way meanwhile
    frames = _frames(events, partial(slots.release, user_key(caller), submitted.request_id), **ids)
    return _event_stream(request, frames, submitted.request_id, submitted.session_id)


@router.get("/chat/stream/{request_id}", response_class=EventStream, response_model=None, responses=REFUSALS)
async def resume_stream(
    request_id: str,
    request: Request,
    caller: Annotated[Caller, Depends(admitted_caller)],
    runs: Annotated[RunClient, Depends(run_client)],
    owners: Annotated[Ownership, Depends(ownership)],
    last_event_id: Annotated[str | None, Header()] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> EventStream | JSONResponse:
    """Rejoin a run's stream after a disconnect: events after `Last-Event-ID` are replayed."""
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    locale = first_language(accept_language)
    if not is_valid_id(request_id) or not await runs.exists(request_id):
        return error_response(ErrorInfo.of(ErrorCode.NOT_FOUND, NOT_FOUND.for_locale(locale)))
    if not await owners.owns_run(request_id, caller):
        record_security_event(SecurityEvent.ACCESS_DENIED, SecurityReason.RUN_NOT_OWNED, user_id=caller.user_id)
        return error_response(ErrorInfo.of(ErrorCode.NOT_FOUND, NOT_FOUND.for_locale(locale)))
    stream_id = request_context(request.scope).request_id
    slots = await acquire_stream(request, caller, stream_id)
    frames = _frames(
        runs.follow(request_id, after, locale),
        partial(slots.release, user_key(caller), stream_id),
        request_id=request_id,
        user_id=caller.user_id,
    )
    return _event_stream(request, frames, request_id, None)


def _event_stream(
    request: Request, frames: AsyncIterator[dict[str, str]], request_id: str, session_id: str | None
) -> EventStream:
    headers = {"X-Request-ID": request_id, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if session_id:
        headers["X-Session-ID"] = session_id
    # Pings only while the run is quiet (`keepalive.py`): sse-starlette's own would tick through a busy stream.
    pings = with_keepalive(frames, request.app.state.settings.sse_ping_s)
    return EventStream(pings, ping=0, headers=headers, head_hold_s=request.app.state.sse_head_hold_s)
