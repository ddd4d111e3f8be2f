"""A provider's failure as the platform's error: busy, misconfigured, failing, or too long.

Which family a failure is in decides what happens next (`resilient_model.py`):

- busy (`MODEL_RATE_LIMITED` 429, `MODEL_OVERLOADED` 503/529 or no first token
  in time): retried after a backoff that honours `Retry-After`, never counted
  against the breaker: the endpoint works, it has no room for us yet;
- misconfigured (`MODEL_MISCONFIGURED`: 401/403, 404 for a wrong model name or
  base URL path, a redirect for a base URL that is not the API's): never retried,
  the platform's settings are wrong;
- failing (`MODEL_UNAVAILABLE` 5xx or connection lost, `MODEL_STREAM_INTERRUPTED`,
  `MODEL_TIMEOUT` for an answer that did not finish): retried, and counted
  against the breaker;
- too long (`MODEL_CONTEXT_OVERFLOW`): the prompt does not fit the model's
  context window; retrying it unchanged fails again;
- refused (`MODEL_BAD_RESPONSE`: any other 4xx, 400, 413, 422, a content filter):
  the request itself is at fault; never retried.

What a retry cannot fix is never classified as busy or failing, however it comes:
a 429 that says the account's quota is spent (`insufficient_quota`) is
misconfigured, not busy; an error event inside the stream (no HTTP status) is
read by its `code` and `type`, as vLLM and OpenAI write them (`"code": 400`,
`invalid_request_error`, `content_filter`), and only an error that names no
client fault is failing. Each is named in tests/orchestrator/test_model_retries.py.

A connection that could not be made, or was lost, is failing (`MODEL_UNAVAILABLE`; after
the first chunk `MODEL_STREAM_INTERRUPTED`), never slow: only the platform's own deadlines
are timeouts (`model_client.py`). A stream the platform cannot read is `MODEL_BAD_RESPONSE`.

Every refusal is logged with the upstream status and the provider's error type
and code, never its message: some providers quote the request in it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from agent_common.errors import ErrorCode, PlatformError
from agent_orchestrator.model_http import ModelBadStream, ModelErrorAnswer, ModelUnreachable

log = logging.getLogger("agent.orchestrator.model")

# What OpenAI, llama.cpp's server and vLLM say when the prompt is longer than the window.
_OVERFLOW_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_OVERFLOW_PHRASES = ("exceeds the available context size", "maximum context length", "context length exceeded")
_BUSY_STATUSES = frozenset({503, 529})  # 529: "overloaded" of some hosted APIs
_MISCONFIGURED_STATUSES = frozenset({401, 403, 404, 405})  # 405: a base URL that is not the API's
# A 429 that no wait fixes: the account's quota or credit is spent (OpenAI's, and proxies that copy it).
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "quota_exceeded"})
# A provider's safety system refused the prompt (OpenAI, Azure OpenAI): the same prompt is refused again.
_CONTENT_FILTER_CODES = frozenset({"content_filter", "content_policy_violation", "responsible_ai_policy_violation"})
# Error types of an error event inside a stream, by the HTTP status the same error has outside one.
_CLIENT_ERROR_TYPES = {
    "invalid_request_error": 400,
    "badrequesterror": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "notfounderror": 404,
    "request_too_large": 413,
    "unprocessableentityerror": 422,
}


@contextmanager
def classified(model: str) -> Iterator[None]:
    """The endpoint's failures, raised inside before the stream's first chunk, as the platform's."""
    try:
        yield
    except ModelUnreachable as exc:
        raise PlatformError(ErrorCode.MODEL_UNAVAILABLE, "The model could not be reached.") from exc
    except ModelErrorAnswer as exc:
        error = refusal(exc.status, exc)
        _log_refusal(model, exc.status, exc, error)
        raise error from exc
    except ModelBadStream as exc:
        raise unreadable() from exc


@contextmanager
def classified_after_first_chunk(model: str) -> Iterator[None]:
    """The same, once text may have reached the user: a failure is the answer cut short, unless
    it names a fault of the request itself (`interrupted_by`)."""
    try:
        yield
    except ModelUnreachable as exc:
        raise interrupted() from exc
    except ModelErrorAnswer as exc:
        error = interrupted_by(exc)
        if error.code != ErrorCode.MODEL_STREAM_INTERRUPTED:
            _log_refusal(model, exc.status, exc, error)
        raise error from exc
    except ModelBadStream as exc:
        raise unreadable() from exc


def refusal(status: int | None, exc: ModelErrorAnswer) -> PlatformError:
    """What an error answer (`status`, or an error event in a stream when None) means."""
    if is_context_overflow(exc):
        return PlatformError(
            ErrorCode.MODEL_CONTEXT_OVERFLOW, "The conversation is longer than the model's context window."
        )
    codes = _codes(exc)
    if codes & _CONTENT_FILTER_CODES:
        return PlatformError(
            ErrorCode.MODEL_BAD_RESPONSE,
            "The model's provider refused the request (content filter).",
            status=status,
            reason="content_filter",
        )
    if codes & _QUOTA_CODES:
        return PlatformError(
            ErrorCode.MODEL_MISCONFIGURED,
            "The model endpoint's account has no quota left.",
            status=status,
            reason="insufficient_quota",
        )
    if status is None:
        status = _status_in_body(exc)
    if status == 429:
        return PlatformError(
            ErrorCode.MODEL_RATE_LIMITED, "The model is rate-limiting requests.", retry_after=exc.retry_after
        )
    if status in _BUSY_STATUSES:
        return PlatformError(
            ErrorCode.MODEL_OVERLOADED, "The model is overloaded.", status=status, retry_after=exc.retry_after
        )
    if status in _MISCONFIGURED_STATUSES or (status is not None and status < 400):  # < 400: a redirect
        return PlatformError(
            ErrorCode.MODEL_MISCONFIGURED,
            "The model endpoint refused the platform's credentials, model name or URL.",
            status=status,
        )
    if status is None or status >= 500:
        return PlatformError(ErrorCode.MODEL_UNAVAILABLE, "The model failed to answer.", status=status)
    return PlatformError(ErrorCode.MODEL_BAD_RESPONSE, "The model refused the request.", status=status)


def _codes(exc: ModelErrorAnswer) -> set[str]:
    """The provider's error `code` and `type`, lower-cased."""
    return {str(value).lower() for value in (exc.code, exc.type) if value}


def _status_in_body(exc: ModelErrorAnswer) -> int | None:
    """The HTTP status an error event inside a stream stands for: its `code` when that is one (vLLM
    writes `"code": 400`), else its `type`'s; None when it names no client fault (then it is failing)."""
    code = exc.code
    if isinstance(code, int) or (isinstance(code, str) and code.isdigit()):
        number = int(code)
        return number if 400 <= number < 600 else None
    return next((_CLIENT_ERROR_TYPES[c] for c in _codes(exc) if c in _CLIENT_ERROR_TYPES), None)


def interrupted_by(exc: ModelErrorAnswer) -> PlatformError:
    """An error event after the stream's first chunk: a refusal when it names a client fault (a content
    filter, an invalid request: the same request fails again), else the answer cut short."""
    error = refusal(None, exc)
    if error.code in (ErrorCode.MODEL_UNAVAILABLE, ErrorCode.MODEL_OVERLOADED, ErrorCode.MODEL_RATE_LIMITED):
        return interrupted()
    return error


def is_context_overflow(exc: ModelErrorAnswer) -> bool:
    codes = {str(exc.code or ""), str(exc.type or "")}
    if codes & _OVERFLOW_CODES:
        return True
    body = exc.body if isinstance(exc.body, dict) else {}
    message = str(body.get("message") or exc.message).lower()
    return any(phrase in message for phrase in _OVERFLOW_PHRASES)


def no_first_token() -> PlatformError:
    # A server that accepted the call and sends nothing is queueing it behind others: busy, not broken.
    return PlatformError(
        ErrorCode.MODEL_OVERLOADED, "The model did not start answering in time.", reason="no_first_token"
    )


def unreadable() -> PlatformError:
    return PlatformError(ErrorCode.MODEL_BAD_RESPONSE, "The model sent a chunk the platform cannot read.")


def too_slow() -> PlatformError:
    return PlatformError(ErrorCode.MODEL_TIMEOUT, "The model did not finish in time.")


def interrupted() -> PlatformError:
    return PlatformError(ErrorCode.MODEL_STREAM_INTERRUPTED, "The model's answer stopped before it was complete.")


def _log_refusal(model: str, status: int | None, exc: ModelErrorAnswer, error: PlatformError) -> None:
    log.warning(
        "the model refused the call",
        extra={
            "model": model,
            "upstream_status": status,
            "provider_error_type": exc.type,
            "provider_error_code": exc.code,
            "error_code": error.code.value,
        },
    )
