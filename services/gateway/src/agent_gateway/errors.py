"""Every error leaves the gateway with a class and a code, never a bare 500 page, and with text
for people in the caller's language: a `user_input` error's message says what to change; any
other error carries a `fallback` (`agent_common.fallback`) beside its message."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent_common.error_metrics import record_error
from agent_common.errors import ErrorCode, ErrorInfo, PlatformError
from agent_common.fallback import fallback_message, language_of
from agent_common.logs import current_ids
from agent_common.security_events import SecurityEvent, SecurityReason, record_security_event
from agent_gateway.localized import Localized, first_language
from agent_gateway.schemas import ErrorResponse

log = logging.getLogger("agent.gateway")

JSON_MEDIA_TYPE = "application/json"
METHOD_NOT_ALLOWED = Localized(
    "This path does not take {method}; it takes {allow}.",
    "이 경로는 {method} 요청을 받지 않습니다. 받는 메서드: {allow}.",
)
CONTENT_TYPE_UNSUPPORTED = Localized(
    "Send the body as JSON, with the header `Content-Type: application/json`.",
    "본문은 JSON으로, `Content-Type: application/json` 헤더와 함께 보내 주세요.",
)
BODY_INVALID = Localized(
    "The request body is not valid: `details.fields` names each field and its problem.",
    "요청 본문이 올바르지 않습니다. `details.fields`에 각 필드와 문제가 있습니다.",
)
BODY_UNREADABLE = Localized(
    "The request body could not be read: send UTF-8 JSON.",
    "요청 본문을 읽을 수 없습니다. UTF-8 JSON으로 보내 주세요.",
)
PATH_NOT_FOUND = Localized("Nothing is served at this path.", "이 경로에는 아무것도 없습니다.")
STATE_STORE_UNAVAILABLE = Localized(
    "The platform's state store is not available; try again shortly.",
    "플랫폼의 상태 저장소를 쓸 수 없습니다. 잠시 후 다시 시도해 주세요.",
)
INTERNAL = Localized("Something went wrong on our side.", "플랫폼 내부에서 문제가 생겼습니다.")
RUN_WITHOUT_ANSWER = Localized("The run ended without an answer.", "실행이 답변 없이 끝났습니다.")


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
    locale: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The error's body; one that is not the caller's own gets a fallback in `locale`'s language
    (English without one) unless `fallback` is given."""
    request_id = request_id or current_ids().get("request_id")
    record_error(info, "http")
    if fallback is None:
        fallback = fallback_message(info, language_of(None, locale))
    body = ErrorResponse(
        error=info, request_id=request_id, session_id=session_id, partial_answer=partial_answer, fallback=fallback
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True), status_code=status or info.http_status, headers=headers
    )


def _locale(request: Request) -> str | None:
    return first_language(request.headers.get("accept-language"))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if isinstance(exc.body, bytes):
            # FastAPI hands the model the raw bytes only when the content type is not JSON
            # (missing, a form, text): say what to send, not that bytes are not an object.
            record_security_event(SecurityEvent.INPUT_REJECTED, SecurityReason.MALFORMED_BODY)
            info = ErrorInfo.of(
                ErrorCode.CONTENT_TYPE_UNSUPPORTED,
                CONTENT_TYPE_UNSUPPORTED.for_locale(_locale(request)),
                expected=JSON_MEDIA_TYPE,
            )
            return error_response(info, headers={"Accept": JSON_MEDIA_TYPE})
        fields = [
            {"field": ".".join(str(p) for p in err.get("loc", ())[1:]) or "body", "problem": err.get("msg", "")}
            for err in exc.errors()[:10]
        ]
        malformed = any(err.get("type") == "json_invalid" for err in exc.errors())
        record_security_event(
            SecurityEvent.INPUT_REJECTED, SecurityReason.MALFORMED_BODY if malformed else SecurityReason.INVALID_FIELDS
        )
        message = BODY_INVALID.for_locale(_locale(request))
        return error_response(ErrorInfo.of(ErrorCode.INPUT_INVALID, message, fields=fields))

    @app.exception_handler(PlatformError)
    async def on_platform_error(request: Request, exc: PlatformError) -> JSONResponse:
        headers = exc.headers if isinstance(exc, Refused) else None
        return error_response(exc.info, locale=_locale(request), headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own headers stay (a 405 carries `Allow`, as RFC 9110 requires).
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:
            allow = (headers or {}).get("Allow", "")
            message = METHOD_NOT_ALLOWED.for_locale(_locale(request)).format(method=request.method, allow=allow)
            return error_response(
                ErrorInfo.of(ErrorCode.METHOD_NOT_ALLOWED, message, allow=[m.strip() for m in allow.split(",") if m]),
                headers=headers,
            )
        if exc.status_code == 404:
            info = ErrorInfo.of(ErrorCode.NOT_FOUND, PATH_NOT_FOUND.for_locale(_locale(request)))
        else:
            # FastAPI's "There was an error parsing the body": bytes that are not UTF-8, nesting
            # past the parser's depth, numbers too long to convert.
            record_security_event(SecurityEvent.INPUT_REJECTED, SecurityReason.MALFORMED_BODY)
            info = ErrorInfo.of(ErrorCode.INPUT_INVALID, BODY_UNREADABLE.for_locale(_locale(request)))
        return error_response(info, status=exc.status_code, headers=headers)

    @app.exception_handler(RedisError)
    async def on_redis_error(request: Request, exc: RedisError) -> JSONResponse:
        log.warning("Redis failed during a request", exc_info=exc)
        locale = _locale(request)
        info = ErrorInfo.of(ErrorCode.INFRA_UNAVAILABLE, STATE_STORE_UNAVAILABLE.for_locale(locale))
        return error_response(info, locale=locale)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        locale = _locale(request)
        return error_response(ErrorInfo.of(ErrorCode.INTERNAL, INTERNAL.for_locale(locale)), locale=locale)
