"""`/api/chat` (the whole answer as JSON) and `/api/chat/stream` (Server-Sent Events)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from sse_starlette import EventSourceResponse

from agent_common.errors import ErrorCode, ErrorInfo, PlatformError
from agent_common.events import DoneEvent, ErrorEvent, RunEvent, TokenEvent
from agent_common.ids import is_valid_id
from agent_common.logs import bind_ids
from agent_gateway.errors import error_response
from agent_gateway.identity import Caller, current_caller
from agent_gateway.runs import RunClient
from agent_gateway.schemas import ChatBody, ChatResponse, ErrorResponse

router = APIRouter(prefix="/api")


def run_client(request: Request) -> RunClient:
    client: RunClient = request.app.state.run_client
    return client


def _locale(body: ChatBody, accept_language: str | None) -> str | None:
    if body.locale:
        return body.locale
    if accept_language:
        first = accept_language.split(",")[0].split(";")[0].strip()
        return first or None
    return None


def _check_length(body: ChatBody, request: Request) -> None:
    limit: int = request.app.state.settings.max_message_chars
    if len(body.message) > limit:
        raise PlatformError(ErrorCode.INPUT_TOO_LARGE, f"The message is longer than {limit} characters.", limit=limit)


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses={
        400: {"model": ErrorResponse},
        413: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        502: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
        504: {"model": ErrorResponse},
    },
)
async def chat(
    body: ChatBody,
    request: Request,
    caller: Annotated[Caller, Depends(current_caller)],
    runs: Annotated[RunClient, Depends(run_client)],
    accept_language: Annotated[str | None, Header()] = None,
) -> Any:
    """Send a message and wait for the whole answer."""
    _check_length(body, request)
    submitted = runs.new_request(caller, body.message, body.session_id, _locale(body, accept_language))
    with bind_ids(request_id=submitted.request_id, session_id=submitted.session_id, user_id=caller.user_id):
        partial: list[str] = []
        async with aclosing(runs.submit(submitted)) as events:
            async for event in events:
                if isinstance(event, TokenEvent):
                    partial.append(event.text)
                elif isinstance(event, DoneEvent):
                    return ChatResponse.from_done(event)
                elif isinstance(event, ErrorEvent):
                    return error_response(
                        event.error,
                        request_id=submitted.request_id,
                        session_id=submitted.session_id,
                        partial_answer="".join(partial) if event.partial else None,
                        fallback=event.fallback,
                    )
        return error_response(
            ErrorInfo.of(ErrorCode.INTERNAL, "The run ended without an answer."), request_id=submitted.request_id
        )


def _frame(event: RunEvent) -> dict[str, str]:
    return {"event": event.type, "id": str(event.seq), "data": event.sse_data()}


@router.post("/chat/stream", response_class=EventSourceResponse)
async def chat_stream(
    body: ChatBody,
    request: Request,
    caller: Annotated[Caller, Depends(current_caller)],
    runs: Annotated[RunClient, Depends(run_client)],
    accept_language: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Send a message and receive the answer as Server-Sent Events (see docs/sse-events.md)."""
    _check_length(body, request)
    submitted = runs.new_request(caller, body.message, body.session_id, _locale(body, accept_language))

    async def frames() -> AsyncIterator[dict[str, str]]:
        with bind_ids(request_id=submitted.request_id, session_id=submitted.session_id, user_id=caller.user_id):
            async with aclosing(runs.submit(submitted)) as events:
                async for event in events:
                    yield _frame(event)

    return _event_stream(request, frames(), submitted.request_id, submitted.session_id)


@router.get("/chat/stream/{request_id}", response_class=EventSourceResponse)
async def resume_stream(
    request_id: str,
    request: Request,
    runs: Annotated[RunClient, Depends(run_client)],
    last_event_id: Annotated[str | None, Header()] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> Any:
    """Rejoin a run's stream after a disconnect: events after `Last-Event-ID` are replayed."""
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    if not is_valid_id(request_id) or not await runs.exists(request_id):
        return error_response(ErrorInfo.of(ErrorCode.NOT_FOUND, "No such run, or it has expired."))

    async def frames() -> AsyncIterator[dict[str, str]]:
        with bind_ids(request_id=request_id):
            async with aclosing(runs.follow(request_id, after, accept_language)) as events:
                async for event in events:
                    yield _frame(event)

    return _event_stream(request, frames(), request_id, None)


def _event_stream(
    request: Request, frames: AsyncIterator[dict[str, str]], request_id: str, session_id: str | None
) -> EventSourceResponse:
    headers = {"X-Request-ID": request_id, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if session_id:
        headers["X-Session-ID"] = session_id
    return EventSourceResponse(frames, ping=request.app.state.settings.sse_ping_s, headers=headers)
