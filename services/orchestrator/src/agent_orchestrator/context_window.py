"""Fitting a prompt into the model's context window.

The window comes from `MODEL_CONTEXT_WINDOW` (`MODEL_SECONDARY_CONTEXT_WINDOW`)
or, unset, from what the server reports: llama.cpp's server `n_ctx` at `/props`,
vLLM `max_model_len` on its `/v1/models` entries. OpenAI reports nothing: then
the session's own token budget is the only bound, and a refusal is
`MODEL_CONTEXT_OVERFLOW`.

Before each call what can go goes, until the estimate fits: the oldest history
turns first, then the lowest-ranked retrieved passages. The system prompt, the
question and the run's own tool steps stay; room is left for the output cap.
Estimates come from `agent_common.token_estimate` (no tokenizer), so a tenth of
the window is kept spare for the difference with the model's own tokenizer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import httpx
import orjson

from agent_common.errors import ErrorCode, PlatformError
from agent_common.rag.context import is_context
from agent_common.token_estimate import estimate_tokens
from agent_orchestrator.conversation import ChatMessage, ToolDefinition
from agent_orchestrator.model_http import ModelBadStream, ModelEndpoint, ModelErrorAnswer

log = logging.getLogger("agent.orchestrator.model")

MESSAGE_OVERHEAD_TOKENS = 4  # role and separators, per message, in chat templates
SPARE_SHARE = 0.1  # of the window: the estimate is not the model's tokenizer
ANSWER_SHARE = 0.25  # of the window kept for the answer at most, when the output cap asks for more
_PASSAGE_START = re.compile(r"\n\n\[\d+\] ")


async def reported_window(client: ModelEndpoint, base_url: str, model: str) -> int | None:
    """The context window the server at `base_url` says it has, or None when it says nothing."""
    root = str(httpx.URL(base_url.rstrip("/"))).removesuffix("/v1")
    try:
        props = await client.get_json(f"{root}/props", timeout_s=2.0)
        if isinstance(props, dict):
            settings = props.get("default_generation_settings")
            n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else props.get("n_ctx")
            if isinstance(n_ctx, int) and n_ctx > 0:
                return n_ctx
    except (ModelErrorAnswer, ModelBadStream):
        pass  # not llama.cpp's server
    try:
        listed = await client.get_json(f"{base_url.rstrip('/')}/models", timeout_s=2.0)
    except (ModelErrorAnswer, ModelBadStream):
        return None
    data = listed.get("data") if isinstance(listed, dict) else None
    models = [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []
    for entry in [m for m in models if m.get("id") == model] or models[:1]:
        length = entry.get("max_model_len")
        if isinstance(length, int) and length > 0:
            return length
    return None


def fit_to_window(
    messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition], window: int, max_tokens: int | None = None
) -> tuple[list[ChatMessage], int | None]:
    """`messages` without what must go for them to fit `window`, and the output cap to send.

    The answer keeps room for the output cap, up to `ANSWER_SHARE` of the window: a cap
    larger than that (the default 2048 on a 1024-token server, say) must not make every
    prompt overflow. What the prompt leaves is the most the answer is then asked for."""
    usable = int(window * (1 - SPARE_SHARE))
    reserve = min(max_tokens, int(window * ANSWER_SHARE)) if max_tokens is not None else 0
    budget = usable - reserve - _tools_tokens(tools)
    fitted = list(messages)
    used = sum(_message_tokens(m) for m in fitted)
    if used <= budget:
        return fitted, _answer_room(max_tokens, usable - used - _tools_tokens(tools))
    question = max(i for i, m in enumerate(fitted) if m["role"] == "user")
    dropped_passages = 0
    # The oldest history turns, whole: a user message and the answers that follow it.
    index = 1
    while used > budget and index < question:
        if fitted[index]["role"] == "system":  # the passages, which go last
            index += 1
            continue
        turn_end = index + 1
        while turn_end < question and fitted[turn_end]["role"] == "assistant":
            turn_end += 1
        used -= sum(_message_tokens(m) for m in fitted[index:turn_end])
        del fitted[index:turn_end]
        question -= turn_end - index
    # Then the lowest-ranked passages, one at a time from the end of their block.
    for index in range(question - 1, 0, -1):
        message = fitted[index]
        if used <= budget or message["role"] != "system" or not is_context(str(message["content"])):
            continue
        text = str(message["content"])
        while used > budget:
            starts = list(_PASSAGE_START.finditer(text))
            used -= _message_tokens(message)
            if len(starts) <= 1:
                del fitted[index]
                question -= 1
                dropped_passages += len(starts)
                break
            text = text[: starts[-1].start()]
            message = {"role": "system", "content": text}
            fitted[index] = message
            used += _message_tokens(message)
            dropped_passages += 1
    if used > budget:
        raise PlatformError(
            ErrorCode.MODEL_CONTEXT_OVERFLOW,
            "The question does not fit the model's context window.",
            context_window=window,
            estimated_tokens=used + _tools_tokens(tools),
        )
    log.info(
        "prompt trimmed to the context window",
        extra={
            "context_window": window,
            "dropped_messages": len(messages) - len(fitted),
            "dropped_passages": dropped_passages,
        },
    )
    return fitted, _answer_room(max_tokens, usable - used - _tools_tokens(tools))


def _answer_room(max_tokens: int | None, room: int) -> int | None:
    """The output cap to send: the run's own, or less when the window leaves less room."""
    return None if max_tokens is None else max(1, min(max_tokens, room))


def _message_tokens(message: ChatMessage) -> int:
    total = MESSAGE_OVERHEAD_TOKENS + estimate_tokens(str(message.get("content") or ""))
    if message["role"] == "assistant":
        for call in message.get("tool_calls", []):
            total += estimate_tokens(call["function"]["name"]) + estimate_tokens(call["function"]["arguments"])
    return total


def _tools_tokens(tools: Sequence[ToolDefinition]) -> int:
    return estimate_tokens(orjson.dumps(list(tools)).decode()) if tools else 0


def prompt_tokens(messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]) -> int:
    """The estimate of a prompt's tokens, as the trimming counts them: what the usage ledger
    records for a call whose provider sent no `usage`."""
    return sum(_message_tokens(m) for m in messages) + _tools_tokens(tools)
