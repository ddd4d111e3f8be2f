"""The refusals real servers answer a chat call with, in their own shapes: a wrong key,
an unknown model, no free slot, a prompt longer than the context window.

The platform tells busy, misconfigured and too long apart by these bodies and
statuses, so they are sent as OpenAI and llama.cpp's server send them.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from agent_offline_model.faults import Fault, FaultKind
from agent_offline_model.wire import error_body


def refusal_for(fault: Fault) -> JSONResponse | None:
    """The refusal `fault` answers with, if it is one of these."""
    if fault.kind is FaultKind.OVERLOADED:
        return JSONResponse(
            error_body("The server is overloaded: no slot is free (injected fault).", "unavailable_error"),
            status_code=503,
            headers={"Retry-After": str(fault.retry_after_s)},
        )
    if fault.kind is FaultKind.UNAUTHORIZED:
        return JSONResponse(
            error_body("Incorrect API key provided (injected fault).", "invalid_request_error", "invalid_api_key"),
            status_code=401,
        )
    if fault.kind is FaultKind.MODEL_NOT_FOUND:
        return JSONResponse(
            error_body(
                "The model does not exist or you do not have access to it (injected fault).",
                "invalid_request_error",
                "model_not_found",
                "model",
            ),
            status_code=404,
        )
    if fault.kind is FaultKind.CONTEXT_OVERFLOW:
        return JSONResponse(
            error_body(
                "This model's maximum context length is 128 tokens. However, your messages resulted in more tokens "
                "(injected fault). Please reduce the length of the messages.",
                "invalid_request_error",
                "context_length_exceeded",
                "messages",
            ),
            status_code=400,
        )
    if fault.kind is FaultKind.CONTEXT_OVERFLOW_LLAMACPP:
        return context_overflow(prompt_tokens=0, window=0)
    return None


def context_overflow(prompt_tokens: int, window: int) -> JSONResponse:
    """llama.cpp's server's answer to a prompt longer than its context (`n_ctx`)."""
    return JSONResponse(
        {
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": prompt_tokens,
                "n_ctx": window,
            }
        },
        status_code=400,
    )
