"""The reindex API: publish a command, follow its statuses as Server-Sent Events.

`POST /reindex` takes `{"source": {...}, "mode": "incremental"|"full"}` and answers 202
with the command's `request_id`; `GET /reindex/{request_id}/events` streams
`event: status` frames (a `ReindexStatus` each) until the command is done or failed.
This is what `agent reindex` talks to, in both modes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent_common.bus import Bus
from agent_common.errors import ErrorCode, ErrorInfo
from agent_common.ids import new_id
from agent_common.messages import ReindexRequested, ReindexSource
from agent_rag_indexer.status_board import StatusBoard


class ReindexBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: ReindexSource
    mode: Literal["full", "incremental"] = "incremental"


def _error(info: ErrorInfo) -> Response:
    return JSONResponse({"error": info.model_dump(mode="json")}, status_code=info.http_status)


def reindex_routes(bus: Bus, board: StatusBoard) -> list[Route]:
    async def submit(request: Request) -> Response:
        try:
            body = ReindexBody.model_validate_json(await request.body())
        except ValidationError as exc:
            fields = [{"field": ".".join(map(str, e["loc"])), "problem": e["msg"]} for e in exc.errors()[:20]]
            return _error(ErrorInfo.of(ErrorCode.INPUT_INVALID, "The body is not a reindex command.", fields=fields))
        command = ReindexRequested(
            request_id=new_id("rdx_"), session_id="reindex", user_id="reindex-api", source=body.source, mode=body.mode
        )
        await bus.publish(command)
        return JSONResponse({"request_id": command.request_id}, status_code=202)

    async def events(request: Request) -> Response:
        request_id = request.path_params["request_id"]

        async def frames() -> AsyncIterator[bytes]:
            async for status in board.follow(request_id):
                yield f"event: status\ndata: {status.model_dump_json()}\n\n".encode()

        return StreamingResponse(frames(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    async def latest(request: Request) -> Response:
        status = board.latest(request.path_params["request_id"])
        if status is None:
            return _error(ErrorInfo.of(ErrorCode.NOT_FOUND, "No such reindex command (yet)."))
        return JSONResponse(status.model_dump(mode="json"))

    return [
        Route("/reindex", submit, methods=["POST"]),
        Route("/reindex/{request_id}", latest, methods=["GET"]),
        Route("/reindex/{request_id}/events", events, methods=["GET"]),
    ]
