"""What an OpenAI Chat Completions request asks of the platform: one turn of a session.

`ChatRequested` carries one message; the session's history is the orchestrator's. So:

- the turn is the messages after the last assistant message (the client's new ones);
  one user message is sent as it is, several as a labelled transcript;
- with `X-Session-ID`, the session's stored history is the history, and the earlier
  messages of the request (which the client keeps for itself) are ignored;
- without it, the request starts a session, and the earlier messages go before the turn,
  as a labelled transcript: the model sees them, and the session stores them as the turn.

Fields that ask for what the platform does not do are refused here, one at a time, with
400 `PARAMETER_UNSUPPORTED` and the field in `param` (docs/openai.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from agent_common.errors import ErrorCode, PlatformError
from agent_common.security_events import SecurityEvent, SecurityReason, record_security_event
from agent_gateway.localized import Localized
from agent_gateway.openai_schemas import AssistantMessage, ChatCompletionBody, Message
from agent_gateway.schemas import SessionId

UNSUPPORTED = Localized("`{param}` is not supported here: {why}", "`{param}` 항목은 지원하지 않습니다: {why}")
WHY: dict[str, Localized] = {
    "tools": Localized(
        "the agent runs its own tools; send the question alone.",
        "에이전트가 자체 도구를 실행합니다. 질문만 보내 주세요.",
    ),
    "n": Localized("one answer per request (n = 1).", "요청 하나에 답변 하나만 만듭니다 (n = 1)."),
    "response_format": Localized(
        "answers are text; JSON output is not available.", "답변은 텍스트입니다. JSON 출력은 지원하지 않습니다."
    ),
    "stop": Localized("stop sequences are not available.", "중지 시퀀스는 지원하지 않습니다."),
    "logprobs": Localized("log probabilities are not available.", "로그 확률은 제공하지 않습니다."),
    "audio": Localized("answers are text only.", "답변은 텍스트로만 제공합니다."),
}
SESSION_HEADER = "X-Session-ID"
_SESSION_ID: TypeAdapter[str] = TypeAdapter(SessionId)
# Declared by hand in the OpenAPI schema: a `str | None` header would be documented as nullable,
# and a client (the fuzzer) may then send the text `null`.
SESSION_PARAMETER: dict[str, Any] = {
    "name": SESSION_HEADER,
    "in": "header",
    "required": False,
    "description": "Continue this platform session (`platform.session_id` of an earlier answer); "
    "the request's earlier messages are then ignored.",
    "schema": _SESSION_ID.json_schema(),
}
SESSION_INVALID = Localized(
    "`X-Session-ID` is not a session id: send the `platform.session_id` of an earlier answer, or no header.",
    "`X-Session-ID` 값이 세션 ID가 아닙니다. 이전 답변의 `platform.session_id`를 보내거나 헤더를 빼 주세요.",
)
EARLIER = "Earlier in this conversation (as the client sent it):"
NOW = "Now:"


def _refuse(param: str, reason: str, locale: str | None) -> PlatformError:
    record_security_event(SecurityEvent.INPUT_REJECTED, SecurityReason.INVALID_FIELDS)
    why = WHY[reason].for_locale(locale)
    return PlatformError(
        ErrorCode.PARAMETER_UNSUPPORTED, UNSUPPORTED.for_locale(locale).format(param=param, why=why), param=param
    )


def session_named(headers: Any, locale: str | None) -> str | None:
    """The session `X-Session-ID` names, None without the header; 422 `INPUT_INVALID` if it is no session id."""
    value: str | None = headers.get(SESSION_HEADER)
    if value is None:
        return None
    try:
        return _SESSION_ID.validate_python(value)
    except ValidationError:
        record_security_event(SecurityEvent.INPUT_REJECTED, SecurityReason.INVALID_FIELDS)
        raise PlatformError(ErrorCode.INPUT_INVALID, SESSION_INVALID.for_locale(locale), field=SESSION_HEADER) from None


def refuse_unsupported(body: ChatCompletionBody, locale: str | None) -> None:
    """Raise 400 `PARAMETER_UNSUPPORTED` for the first field that asks for what the platform does not do."""
    json_output = body.response_format is not None and body.response_format.type != "text"
    # (field, asks for what is not done, the reason it is not)
    asked = [
        ("n", body.n is not None and body.n > 1, "n"),
        ("tools", bool(body.tools), "tools"),
        ("tool_choice", body.tool_choice not in (None, "none", "auto"), "tools"),
        ("functions", bool(body.functions), "tools"),
        ("function_call", body.function_call not in (None, "none", "auto"), "tools"),
        ("response_format", json_output, "response_format"),
        ("stop", body.stop is not None, "stop"),
        ("logprobs", bool(body.logprobs), "logprobs"),
        ("top_logprobs", bool(body.top_logprobs), "logprobs"),
        ("modalities", any(m != "text" for m in body.modalities or ()), "audio"),
        ("audio", body.audio is not None, "audio"),
    ]
    for i, message in enumerate(body.messages):
        if isinstance(message, AssistantMessage):
            asked.append((f"messages.{i}.tool_calls", bool(message.tool_calls), "tools"))
            asked.append((f"messages.{i}.function_call", message.function_call is not None, "tools"))
    if refused := next(((param, reason) for param, yes, reason in asked if yes), None):
        raise _refuse(*refused, locale)


def _text(message: Message) -> str:
    content = message.content
    if content is None:  # an assistant message may have none (a refusal instead)
        return (message.refusal if isinstance(message, AssistantMessage) else None) or ""
    if isinstance(content, str):
        return content
    return "\n".join(part.text if part.type == "text" else part.refusal for part in content)


def _transcript(messages: Sequence[Message]) -> str:
    return "\n\n".join(f"{message.role}: {_text(message)}" for message in messages)


def turn_text(messages: Sequence[Message], *, continuing: bool) -> str:
    """The message of the platform's turn (`continuing`: the request named its session)."""
    last_answer = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
    # A conversation that ends with an answer: that answer is what is new (the model goes on from it).
    split = last_answer + 1 if last_answer < len(messages) - 1 else last_answer
    earlier, new = messages[:split], messages[split:]
    turn = _text(new[0]) if len(new) == 1 and new[0].role == "user" else _transcript(new)
    if continuing or not earlier:
        return turn
    return f"{EARLIER}\n\n{_transcript(earlier)}\n\n{NOW}\n\n{turn}"
