"""Every error leaves the gateway with a class and a code, never a bare 500 page."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent_common.errors import ErrorCode, ErrorInfo, PlatformError
from agent_gateway.schemas import ErrorResponse

log = logging.getLogger("agent.gateway")


def error_response(
    info: ErrorInfo,
    status: int | None = None,
    *,
    request_id: str | None = None,
    session_id: str | None = None,
    partial_answer: str | None = None,
    fallback: str | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=info, request_id=request_id, session_id=session_id, partial_answer=partial_answer, fallback=fallback
    )
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status or info.http_status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": ".".join(str(p) for p in err.get("loc", ())[1:]) or "body", "problem": err.get("msg", "")}
            for err in exc.errors()[:10]
        ]
        return error_response(ErrorInfo.of(ErrorCode.INPUT_INVALID, "The request body is not valid.", fields=fields))

    @app.exception_handler(PlatformError)
    async def on_platform_error(_: Request, exc: PlatformError) -> JSONResponse:
        return error_response(exc.info)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = ErrorCode.NOT_FOUND if exc.status_code in (404, 405) else ErrorCode.INPUT_INVALID
        return error_response(ErrorInfo.of(code, str(exc.detail)), status=exc.status_code)

    @app.exception_handler(Exception)
    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(ErrorInfo.of(ErrorCode.INTERNAL, "Something went wrong on our side."))
