"""Errors of the OpenAI-compatible API in OpenAI's shape, with the platform's error inside.

`{"error": {"message", "type", "param", "code", "class", "details"}}`: OpenAI's four fields,
`code` being the platform's stable code, plus the platform's `class` and `details`, so a body is
both what an OpenAI SDK reads and what the rest of the platform's clients (and tests) read.

Every refusal under `/v1` is made by the gateway's usual code (admission, validation, body limit,
404/405), in the platform's shape; `OpenAIErrorShape` adds `type` and `param` to those bodies on
the way out, so there is one place that decides a refusal and one that dresses it for OpenAI.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_common.errors import ErrorCode, ErrorInfo
from agent_gateway.openai_schemas import OpenAIError, OpenAIErrorType

OPENAI_PREFIX = "/v1"


def error_type(status: int) -> OpenAIErrorType:
    """OpenAI's `error.type` for an HTTP status (the SDKs pick their exception by the status)."""
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    return "server_error" if status >= 500 else "invalid_request_error"


def _as_written(field: str) -> str:
    """A validation error's field path as the client wrote the field: without the union branches
    pydantic names in it (a message's role, `str`, `function-after[...]`)."""
    kept: list[str] = []
    for part in field.split("."):
        branch = "[" in part or part in _TYPE_NAMES
        role_tag = len(kept) >= 2 and kept[-2] == "messages" and kept[-1].isdigit() and part in _ROLES
        if not (branch or role_tag):
            kept.append(part)
    return ".".join(kept)


_TYPE_NAMES = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def _param(details: dict[str, object]) -> str | None:
    """The request field at fault, as OpenAI's `param` names it, when the platform's details say."""
    for key in ("param", "field"):
        if isinstance(value := details.get(key), str):
            return value
    fields = details.get("fields")
    if isinstance(fields, list) and fields and isinstance(fields[0], dict):
        field = fields[0].get("field")
        return _as_written(field) if isinstance(field, str) else None
    return None


def openai_error(info: ErrorInfo, status: int | None = None) -> OpenAIError:
    # A spent budget is what OpenAI calls an exhausted quota: 429 with type `insufficient_quota`,
    # which clients tell apart from a rate limit (not worth retrying before the budget resets).
    spent = info.code is ErrorCode.BUDGET_EXCEEDED
    return OpenAIError(
        message=info.message,
        type="insufficient_quota" if spent else error_type(status or info.http_status),
        param=_param(info.details),
        code=info.code,
        error_class=info.error_class,
        details=info.details,
    )


def _reshaped(body: bytes, status: int) -> bytes:
    try:
        document: Any = orjson.loads(body)
        info = ErrorInfo.model_validate(document["error"])
    except (ValueError, KeyError, TypeError):
        return body  # not a platform error body: left as it is
    document["error"] = openai_error(info, status).model_dump(mode="json")
    return orjson.dumps(document)


def _is_json(message: Message) -> bool:
    return any(key == b"content-type" and value.startswith(b"application/json") for key, value in message["headers"])


class OpenAIErrorShape:
    """ASGI middleware: the JSON error bodies of `/v1` paths get OpenAI's `type` and `param`, and a
    body refused for its shape (the platform's 422) is OpenAI's 400.

    It sits outside the body limit, so that refusal is reshaped too. Answers that are not errors,
    streams included, pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == OPENAI_PREFIX or path.startswith(OPENAI_PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def reshaping(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] >= 400 and _is_json(message):
                start = message  # held until the body is whole
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            # OpenAI answers a body of the wrong shape 400, the SDKs' `BadRequestError`: the
            # platform's 422 (`INPUT_INVALID`) is that refusal.
            status = 400 if start["status"] == 422 else start["status"]
            body = _reshaped(b"".join(chunks), status)
            headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, reshaping)
