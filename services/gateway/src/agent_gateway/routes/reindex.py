"""`/api/reindex`: put a reindex command on `rag.reindex`, answer its latest status, stream them.

The one door to the indexer, in both modes: the caller is admitted like any `/api` call
(credential, rate limits) and must hold the `reindex` scope, since what is indexed is
what every answer cites. Each path must lie under `RAG_INDEXER_ALLOWED_ROOTS` as written;
the indexer checks again once symlinks are resolved (`agent_common.rag.roots`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from agent_common.auth import Scope
from agent_common.bus import Bus
from agent_common.errors import ErrorCode, ErrorInfo, PlatformError
from agent_common.ids import is_valid_id, new_id
from agent_common.logs import bind_ids
from agent_common.messages import ReindexRequested, ReindexStatus
from agent_common.rag.roots import as_written, within
from agent_common.security_events import SecurityEvent, SecurityReason, record_security_event
from agent_gateway.admission import acquire_stream, caller_with, user_key
from agent_gateway.auth import Caller
from agent_gateway.errors import error_response
from agent_gateway.event_stream import EventStream
from agent_gateway.localized import Localized, first_language
from agent_gateway.reindex_board import ReindexBoard
from agent_gateway.request_context import request_context
from agent_gateway.schemas import ErrorResponse, ReindexAccepted, ReindexBody
from agent_gateway.state import bus, reindex_board

log = logging.getLogger("agent.gateway.reindex")
router = APIRouter(prefix="/api/reindex")

REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 413, 422, 429, 503)
}
PATH_NOT_ALLOWED = Localized(
    "{path} is outside the folders reindex commands may name (RAG_INDEXER_ALLOWED_ROOTS).",
    "{path} 경로는 색인 명령이 지정할 수 있는 폴더(RAG_INDEXER_ALLOWED_ROOTS) 밖에 있습니다.",
)
NO_SUCH_COMMAND = Localized("No such reindex command.", "해당 색인 명령이 없습니다.")

reindex_caller = caller_with(Scope.REINDEX)


async def _known(request: Request, statuses: ReindexBoard, request_id: str) -> bool:
    # The `accepted` status another replica published may reach this one a moment later.
    wait_s: float = request.app.state.settings.reindex_status_wait_s
    return is_valid_id(request_id) and await statuses.known(request_id, wait_s)


def _no_such_command(accept_language: str | None) -> JSONResponse:
    return error_response(
        ErrorInfo.of(ErrorCode.NOT_FOUND, NO_SUCH_COMMAND.for_locale(first_language(accept_language)))
    )


def _check_paths(body: ReindexBody, roots: list[Path], caller: Caller, locale: str | None) -> None:
    for raw in body.source.paths:
        if not within(as_written(raw), roots):
            record_security_event(SecurityEvent.ACCESS_DENIED, SecurityReason.PATH_NOT_ALLOWED, user_id=caller.user_id)
            raise PlatformError(
                ErrorCode.RAG_PATH_NOT_ALLOWED, PATH_NOT_ALLOWED.for_locale(locale).format(path=raw), path=raw
            )


@router.post("", status_code=202, response_model=ReindexAccepted, responses=REFUSALS)
async def submit(
    body: ReindexBody,
    request: Request,
    caller: Annotated[Caller, Depends(reindex_caller)],
    commands: Annotated[Bus, Depends(bus)],
    accept_language: Annotated[str | None, Header()] = None,
) -> ReindexAccepted:
    """Index files, folders or inline documents; answered once the command is on the bus."""
    _check_paths(body, request.app.state.source_roots, caller, first_language(accept_language))
    command = ReindexRequested(
        request_id=new_id("rdx_"),
        session_id="reindex",
        user_id=caller.user_id,
        source=body.source,
        mode=body.mode,
        # The documents are the caller's tenant's: retrieved for that tenant's callers only.
        tenant=caller.tenant,
    )
    with bind_ids(request_id=command.request_id, user_id=caller.user_id):
        # `accepted` first: on the command's partition of `rag.status` it then precedes the
        # indexer's `started`, and every replica knows the id before any status can follow.
        await commands.publish(
            ReindexStatus(
                request_id=command.request_id,
                session_id=command.session_id,
                user_id=caller.user_id,
                state="accepted",
                mode=command.mode,
                source=command.source.name,
            )
        )
        await commands.publish(command)
        # Who asked for what: reindexing changes what every answer cites, so each one is on record.
        log.info(
            "reindex accepted",
            extra={
                "source": command.source.name,
                "mode": command.mode,
                "paths": len(command.source.paths),
                "documents": len(command.source.documents),
                "tenant": caller.tenant,
            },
        )
    return ReindexAccepted(request_id=command.request_id)


@router.get("/{request_id}", response_model=ReindexStatus, responses=REFUSALS)
async def latest(
    request_id: str,
    request: Request,
    _: Annotated[Caller, Depends(reindex_caller)],
    statuses: Annotated[ReindexBoard, Depends(reindex_board)],
    accept_language: Annotated[str | None, Header()] = None,
) -> ReindexStatus | JSONResponse:
    """The command's latest status."""
    status = statuses.latest(request_id) if await _known(request, statuses, request_id) else None
    # None also when the board let the command go between the two reads (it keeps the latest 1000)
    return status if status is not None else _no_such_command(accept_language)


@router.get("/{request_id}/events", response_class=EventStream, response_model=None, responses=REFUSALS)
async def events(
    request_id: str,
    request: Request,
    caller: Annotated[Caller, Depends(reindex_caller)],
    statuses: Annotated[ReindexBoard, Depends(reindex_board)],
    accept_language: Annotated[str | None, Header()] = None,
) -> EventStream | JSONResponse:
    """The command's statuses as Server-Sent Events (`event: status`), until `done` or `failed`."""
    if not await _known(request, statuses, request_id):
        return _no_such_command(accept_language)
    stream_id = request_context(request.scope).request_id
    slots = await acquire_stream(request, caller, stream_id)

    async def frames() -> AsyncIterator[dict[str, str]]:
        try:
            async for status in statuses.follow(request_id):
                yield {"event": "status", "data": status.model_dump_json()}
        finally:
            await slots.release(user_key(caller), stream_id)

    headers = {"X-Request-ID": request_id, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return EventStream(frames(), ping=request.app.state.settings.sse_ping_s, headers=headers)
