"""Request bodies are refused past a size limit while they are read, before any parsing.

A declared `Content-Length` over the limit is refused without reading a byte;
a chunked (or lying) body is counted as it arrives and refused at the first
byte past the limit. Below the limit the body is buffered and handed to the
app unchanged, so the app never sees more than the limit.

The whole body must also arrive within a deadline (`GATEWAY_BODY_TIMEOUT_S`): a
body trickled a byte at a time (slowloris) gets 408 `BODY_TIMEOUT` and is counted
in `http_slow_clients_total{phase="body"}`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_common.errors import ErrorCode, ErrorInfo
from agent_common.security_events import SecurityEvent, SecurityReason, record_security_event
from agent_common.slow_clients import SLOW_CLIENTS
from agent_gateway.localized import Localized, first_language
from agent_gateway.schemas import ErrorResponse

BODY_TIMEOUT = Localized(
    "The request body did not arrive within {limit:g} s.", "요청 본문이 {limit:g}초 안에 도착하지 않았습니다."
)
BODY_TOO_LARGE = Localized("The request body is larger than {limit} bytes.", "요청 본문이 {limit}바이트보다 큽니다.")


def _accept_language(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"accept-language":
            return first_language(value.decode("latin-1"))
    return None


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, read_timeout_s: float = 10.0, exempt_prefixes: Sequence[str] = ()
    ) -> None:
        self.app = app
        self._max_bytes = max_bytes
        self._read_timeout_s = read_timeout_s
        # Apps mounted beside the API, with limits of their own (the embedded offline model).
        self._exempt = tuple(exempt_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in ("GET", "HEAD", "OPTIONS")
            or (self._exempt and scope["path"].startswith(self._exempt))
        ):
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self._max_bytes:
            await self._refuse(scope, send, SecurityReason.CONTENT_LENGTH)
            return
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self._read_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        # The client went away before the body ended: nothing to answer.
                        return
                    chunk: bytes = message.get("body", b"")
                    size += len(chunk)
                    if size > self._max_bytes:
                        await self._refuse(scope, send, SecurityReason.STREAMED_BODY)
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            SLOW_CLIENTS.labels("body").inc()
            await self._answer(
                scope,
                send,
                ErrorInfo.of(
                    ErrorCode.BODY_TIMEOUT,
                    BODY_TIMEOUT.for_locale(_accept_language(scope)).format(limit=self._read_timeout_s),
                    limit_s=self._read_timeout_s,
                ),
            )
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, reason: SecurityReason) -> None:
        record_security_event(SecurityEvent.BODY_TOO_LARGE, reason)
        info = ErrorInfo.of(
            ErrorCode.BODY_TOO_LARGE,
            BODY_TOO_LARGE.for_locale(_accept_language(scope)).format(limit=self._max_bytes),
            limit=self._max_bytes,
        )
        await self._answer(scope, send, info)

    async def _answer(self, scope: Scope, send: Send, info: ErrorInfo) -> None:
        context = scope.get("state", {}).get("context")
        request_id = getattr(context, "request_id", None)
        payload = ErrorResponse(error=info, request_id=request_id).model_dump_json(exclude_none=True).encode()
        # `connection: close`: the rest of the body is never read, so the connection cannot be reused.
        await send(
            {
                "type": "http.response.start",
                "status": info.http_status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
