"""The platform's error taxonomy: every error has a class and a stable code.

The same `ErrorInfo` appears in HTTP bodies, SSE `error` events, tool outcomes,
logs and metrics, so a code seen by a client can be grepped in the logs and
counted on a dashboard. `docs/errors.md` is the catalogue of these codes.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ErrorClass(StrEnum):
    """Who is at fault, which decides the HTTP status family and who gets paged."""

    USER_INPUT = "user_input"
    TOOL = "tool"
    MODEL = "model"
    INFRA = "infra"


class ErrorCode(StrEnum):
    """Stable machine-readable codes. Never rename one: clients match on them."""

    # user_input
    INPUT_INVALID = "INPUT_INVALID"
    INPUT_TOO_LARGE = "INPUT_TOO_LARGE"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    CONTENT_TYPE_UNSUPPORTED = "CONTENT_TYPE_UNSUPPORTED"
    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    BODY_TIMEOUT = "BODY_TIMEOUT"
    AUTH_REQUIRED = "AUTH_REQUIRED"
    AUTH_INVALID = "AUTH_INVALID"
    RATE_LIMITED = "RATE_LIMITED"
    TOO_MANY_STREAMS = "TOO_MANY_STREAMS"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    PARAMETER_UNSUPPORTED = "PARAMETER_UNSUPPORTED"
    RUN_ABANDONED = "RUN_ABANDONED"
    # tool
    TOOL_UNKNOWN = "TOOL_UNKNOWN"
    TOOL_INPUT_INVALID = "TOOL_INPUT_INVALID"
    TOOL_URL_NOT_ALLOWED = "TOOL_URL_NOT_ALLOWED"
    TOOL_TIMEOUT = "TOOL_TIMEOUT"
    TOOL_RESPONSE_TOO_LARGE = "TOOL_RESPONSE_TOO_LARGE"
    TOOL_UPSTREAM_HTTP_ERROR = "TOOL_UPSTREAM_HTTP_ERROR"
    TOOL_UPSTREAM_UNREACHABLE = "TOOL_UPSTREAM_UNREACHABLE"
    TOOL_CONTENT_TYPE_UNSUPPORTED = "TOOL_CONTENT_TYPE_UNSUPPORTED"
    TOOL_UNAVAILABLE = "TOOL_UNAVAILABLE"
    TOOL_CALL_LIMIT = "TOOL_CALL_LIMIT"
    # model
    MODEL_UNAVAILABLE = "MODEL_UNAVAILABLE"
    MODEL_RATE_LIMITED = "MODEL_RATE_LIMITED"
    MODEL_TIMEOUT = "MODEL_TIMEOUT"
    MODEL_BAD_RESPONSE = "MODEL_BAD_RESPONSE"
    MODEL_STEP_LIMIT = "MODEL_STEP_LIMIT"
    MODEL_STREAM_INTERRUPTED = "MODEL_STREAM_INTERRUPTED"
    MODEL_OVERLOADED = "MODEL_OVERLOADED"
    MODEL_MISCONFIGURED = "MODEL_MISCONFIGURED"
    MODEL_CONTEXT_OVERFLOW = "MODEL_CONTEXT_OVERFLOW"
    # user_input: documents handed to the indexer
    RAG_SOURCE_UNREADABLE = "RAG_SOURCE_UNREADABLE"
    RAG_FORMAT_UNSUPPORTED = "RAG_FORMAT_UNSUPPORTED"
    RAG_DOCUMENT_INVALID = "RAG_DOCUMENT_INVALID"
    RAG_PATH_NOT_ALLOWED = "RAG_PATH_NOT_ALLOWED"
    # infra
    RAG_STORE_UNAVAILABLE = "RAG_STORE_UNAVAILABLE"
    RAG_EMBEDDINGS_UNAVAILABLE = "RAG_EMBEDDINGS_UNAVAILABLE"
    INFRA_UNAVAILABLE = "INFRA_UNAVAILABLE"
    INFRA_TIMEOUT = "INFRA_TIMEOUT"
    INTERNAL = "INTERNAL"


ERROR_CLASS_OF: dict[ErrorCode, ErrorClass] = {
    ErrorCode.INPUT_INVALID: ErrorClass.USER_INPUT,
    ErrorCode.INPUT_TOO_LARGE: ErrorClass.USER_INPUT,
    ErrorCode.NOT_FOUND: ErrorClass.USER_INPUT,
    ErrorCode.METHOD_NOT_ALLOWED: ErrorClass.USER_INPUT,
    ErrorCode.CONTENT_TYPE_UNSUPPORTED: ErrorClass.USER_INPUT,
    ErrorCode.BODY_TOO_LARGE: ErrorClass.USER_INPUT,
    ErrorCode.BODY_TIMEOUT: ErrorClass.USER_INPUT,
    ErrorCode.AUTH_REQUIRED: ErrorClass.USER_INPUT,
    ErrorCode.AUTH_INVALID: ErrorClass.USER_INPUT,
    ErrorCode.RATE_LIMITED: ErrorClass.USER_INPUT,
    ErrorCode.TOO_MANY_STREAMS: ErrorClass.USER_INPUT,
    ErrorCode.PERMISSION_DENIED: ErrorClass.USER_INPUT,
    # The tenant's or the key's monthly budget is spent: refused before any model call.
    ErrorCode.BUDGET_EXCEEDED: ErrorClass.USER_INPUT,
    # A field of OpenAI's API the platform does not do (client tools, n > 1, JSON output): `/v1` only.
    ErrorCode.PARAMETER_UNSUPPORTED: ErrorClass.USER_INPUT,
    # Nobody failed: the client left and did not come back, so the run was stopped.
    ErrorCode.RUN_ABANDONED: ErrorClass.USER_INPUT,
    ErrorCode.TOOL_UNKNOWN: ErrorClass.TOOL,
    ErrorCode.TOOL_INPUT_INVALID: ErrorClass.TOOL,
    ErrorCode.TOOL_URL_NOT_ALLOWED: ErrorClass.TOOL,
    ErrorCode.TOOL_TIMEOUT: ErrorClass.TOOL,
    ErrorCode.TOOL_RESPONSE_TOO_LARGE: ErrorClass.TOOL,
    ErrorCode.TOOL_UPSTREAM_HTTP_ERROR: ErrorClass.TOOL,
    ErrorCode.TOOL_UPSTREAM_UNREACHABLE: ErrorClass.TOOL,
    ErrorCode.TOOL_CONTENT_TYPE_UNSUPPORTED: ErrorClass.TOOL,
    ErrorCode.TOOL_UNAVAILABLE: ErrorClass.TOOL,
    ErrorCode.TOOL_CALL_LIMIT: ErrorClass.TOOL,
    ErrorCode.MODEL_UNAVAILABLE: ErrorClass.MODEL,
    ErrorCode.MODEL_RATE_LIMITED: ErrorClass.MODEL,
    ErrorCode.MODEL_TIMEOUT: ErrorClass.MODEL,
    ErrorCode.MODEL_BAD_RESPONSE: ErrorClass.MODEL,
    ErrorCode.MODEL_STEP_LIMIT: ErrorClass.MODEL,
    ErrorCode.MODEL_STREAM_INTERRUPTED: ErrorClass.MODEL,
    ErrorCode.MODEL_OVERLOADED: ErrorClass.MODEL,
    ErrorCode.MODEL_MISCONFIGURED: ErrorClass.MODEL,
    ErrorCode.MODEL_CONTEXT_OVERFLOW: ErrorClass.MODEL,
    ErrorCode.RAG_SOURCE_UNREADABLE: ErrorClass.USER_INPUT,
    ErrorCode.RAG_FORMAT_UNSUPPORTED: ErrorClass.USER_INPUT,
    ErrorCode.RAG_DOCUMENT_INVALID: ErrorClass.USER_INPUT,
    ErrorCode.RAG_PATH_NOT_ALLOWED: ErrorClass.USER_INPUT,
    ErrorCode.RAG_STORE_UNAVAILABLE: ErrorClass.INFRA,
    ErrorCode.RAG_EMBEDDINGS_UNAVAILABLE: ErrorClass.INFRA,
    ErrorCode.INFRA_UNAVAILABLE: ErrorClass.INFRA,
    ErrorCode.INFRA_TIMEOUT: ErrorClass.INFRA,
    ErrorCode.INTERNAL: ErrorClass.INFRA,
}

# The HTTP status a code maps to when it ends a request at the gateway.
HTTP_STATUS_OF: dict[ErrorCode, int] = {
    ErrorCode.INPUT_INVALID: 422,
    ErrorCode.INPUT_TOO_LARGE: 413,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONTENT_TYPE_UNSUPPORTED: 415,
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.BODY_TIMEOUT: 408,
    ErrorCode.AUTH_REQUIRED: 401,
    ErrorCode.AUTH_INVALID: 401,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TOO_MANY_STREAMS: 429,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.BUDGET_EXCEEDED: 429,
    ErrorCode.RAG_PATH_NOT_ALLOWED: 403,
    ErrorCode.MODEL_RATE_LIMITED: 503,
    ErrorCode.MODEL_TIMEOUT: 504,
    ErrorCode.MODEL_OVERLOADED: 503,
    ErrorCode.MODEL_CONTEXT_OVERFLOW: 413,
    ErrorCode.INFRA_TIMEOUT: 504,
}


class ErrorInfo(BaseModel):
    """The wire form of an error, identical wherever it is shown."""

    error_class: ErrorClass = Field(alias="class", serialization_alias="class")
    code: ErrorCode
    message: str
    details: dict[str, object] = Field(default_factory=dict)

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    @classmethod
    def of(cls, code: ErrorCode, message: str, **details: object) -> ErrorInfo:
        return cls(error_class=ERROR_CLASS_OF[code], code=code, message=message, details=details)

    @property
    def http_status(self) -> int:
        if self.code in HTTP_STATUS_OF:
            return HTTP_STATUS_OF[self.code]
        return {ErrorClass.USER_INPUT: 400, ErrorClass.TOOL: 502, ErrorClass.MODEL: 502}.get(self.error_class, 503)


class PlatformError(Exception):
    """An exception that already knows its class and code."""

    def __init__(self, code: ErrorCode, message: str, **details: object) -> None:
        super().__init__(message)
        self.info = ErrorInfo.of(code, message, **details)

    @property
    def code(self) -> ErrorCode:
        return self.info.code

    @property
    def error_class(self) -> ErrorClass:
        return self.info.error_class
