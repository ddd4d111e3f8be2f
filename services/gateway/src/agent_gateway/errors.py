"""Every error leaves the gateway with a class and a code, never a bare 500 page."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent_common.error_metrics import record_error
from agent_common.errors import ErrorCode, ErrorInfo, PlatformError
from agent_common.logs import current_ids
from agent_common.security_events import SecurityEvent, SecurityReason, record_security_event
from agent_gateway.schemas import ErrorResponse

log = logging.getLogger("agent.gateway")


class Refused(PlatformError):
    """A request turned away at the door (authentication, rate limits), with the headers that explain it."""

    def __init__(self, code: ErrorCode, message: str, *, headers: dict[str, str] | None = None, **details: object):
        super().__init__(code, message, **details)
        self.headers = headers or {}


def error_response(
    info: ErrorInfo,
    status: int | None = None,
    *,
    request_id: str | None = None,
    session_id: str | None = None,
    partial_answer: str | None = None,
    fallback: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    request_id = request_id or current_ids().get("request_id")
    record_error(info, "http")
    body = ErrorResponse(
        error=info, request_id=request_id, session_id=session_id, partial_answer=partial_answer, fallback=fallback
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True), status_code=status or info.http_status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": ".".join(str(p) for p in err.get("loc", ())[1:]) or "body", "problem": err.get("msg", "")}
            for err in exc.errors()[:10]
        ]
        malformed = any(err.get("type") == "json_invalid" for err in exc.errors())
        record_security_event(
            SecurityEvent.INPUT_REJECTED, SecurityReason.MALFORMED_BODY if malformed else SecurityReason.INVALID_FIELDS
        )
        return error_response(ErrorInfo.of(ErrorCode.INPUT_INVALID, "The request body is not valid.", fields=fields))

    @app.exception_handler(PlatformError)
    async def on_platform_error(_: Request, exc: PlatformError) -> JSONResponse:
        return error_response(exc.info, headers=exc.headers if isinstance(exc, Refused) else None)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = ErrorCode.NOT_FOUND if exc.status_code in (404, 405) else ErrorCode.INPUT_INVALID
        if code is ErrorCode.INPUT_INVALID:
            # FastAPI's "There was an error parsing the body": bytes that are not UTF-8, nesting
            # past the parser's depth, numbers too long to convert.
            record_security_event(SecurityEvent.INPUT_REJECTED, SecurityReason.MALFORMED_BODY)
        # Starlette's own headers stay (a 405 carries `Allow`, as RFC 9110 requires).
        headers = dict(exc.headers) if exc.headers else None
        return error_response(ErrorInfo.of(code, str(exc.detail)), status=exc.status_code, headers=headers)

    @app.exception_handler(RedisError)
    async def on_redis_error(_: Request, exc: RedisError) -> JSONResponse:
        log.warning("Redis failed during a request", exc_info=exc)
        return error_response(
            ErrorInfo.of(ErrorCode.INFRA_UNAVAILABLE, "The platform's state store is not available; try again shortly.")
        )

    @app.exception_handler(Exception)
    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(ErrorInfo.of(ErrorCode.INTERNAL, "Something went wrong on our side."))
